"""Routes of the scoring service (评价, SCO-1 … SCO-7), validated with the
service's published contract (``services/scoring/schemas.py``).

- ``/api/v1/subjects…``: what is rated, and each subject's QR code; ``/rate/{code}``
  is the public page the code opens;
- ``/api/v1/ratings…``: rate (enterprises), read (GW-2: one's own);
- ``/api/v1/followups…``, ``/api/v1/cards…``: 差评必纠 and 红黄牌;
- ``/api/v1/rankings…``: the standing now, publish (frozen), read, verify (public);
- ``/api/v1/sessions…``: the live session (百户企业评议) and its board as
  server-sent events;
- ``/api/v1/notices/{month}`` (+ ``.xlsx``) and ``/notices/{month}``: the monthly notice.

The live board is streamed by polling: the stream's green thread asks the
scoring service for the board every ``SCO_SSE_POLL_SECONDS`` (0.2 s) through
its own RPC proxy and sends an event when the board's revision changed. A
screen or two per session makes polling cheaper than a queue per screen.
"""
import base64
import json
import time
from pathlib import Path

import eventlet
from jinja2 import Environment, FileSystemLoader, select_autoescape
from nameko.exceptions import RpcTimeout
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

import services.scoring
from kernel.config import CountyProfile, setting
from kernel.rpc import cluster_proxy
from services.scoring import schemas as sco

from ..access import ANY_CALLER, ENTERPRISE, REPORTERS, STAFF
from ..circuit import GuardedRpcProxy
from ..http import json_response, query_args, read_json, route
from ..schemas import MAX_ID, load, project
from .base import RoutesBase, rpc_safe

TAGS = ("scoring",)
ID = f"<int(min=1, max={MAX_ID})"
SUBJECT = "<code>"  # the service refuses an unknown code (404)
MONTH = "<month>"  # the service's MonthQuery checks it
TEMPLATES = Path(services.scoring.__file__).resolve().parent / "templates"
HTML = "text/html; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LEVELS = [(5, "非常满意"), (4, "满意"), (3, "基本满意"), (2, "不满意"), (1, "非常不满意")]


class ScoringPages(DependencyProvider):
    """The scoring service's page templates (autoescaped) and the county's names."""

    def setup(self):
        profile = CountyProfile.from_config(self.container.config)
        self.county = profile.name
        self.names = {code: d.get("name", code) for code, d in profile.departments.items()}
        self.templates = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                                     autoescape=select_autoescape(["html"]))
        self.poll = float(setting(self.container.config, "SCO_SSE_POLL_SECONDS", 0.2))
        self.max_seconds = float(setting(self.container.config, "SCO_SSE_MAX_SECONDS", 3600))

    def get_dependency(self, worker_ctx):
        return self

    def render(self, template, **values):
        html = self.templates.get_template(template).render(county=self.county, **values)
        return Response(html, content_type=HTML, headers={"Cache-Control": "no-store"})


class ScoringRoutes(RoutesBase):
    scoring = GuardedRpcProxy("scoring")
    scoring_pages = ScoringPages()

    # -- subjects (SCO-1) ------------------------------------------------------------------
    @route("GET", "/api/v1/subjects", roles=ANY_CALLER, tags=TAGS, query=sco.SubjectQuery,
           response=sco.SubjectOut, response_many=True,
           summary="What enterprises rate: windows, clerks, departments, towns, section chiefs, "
                   "officials, each with the URL its QR code opens (SCO-1)")
    def list_subjects(self, request):
        self.gate.enter(request)
        query = load(sco.SubjectQuery, query_args(request))
        return json_response([project(sco.SubjectOut, x)
                              for x in self.scoring.list_subjects(query)])

    @route("GET", f"/api/v1/subjects/{SUBJECT}/qr.png", roles=None, tags=TAGS,
           content={"image/png": "PNG"},
           summary="A subject's QR code (public): it opens the rating form (SCO-1)")
    def subject_qr_png(self, request, code):
        return self._qr(request, code, "png")

    @route("GET", f"/api/v1/subjects/{SUBJECT}/qr.svg", roles=None, tags=TAGS,
           content={"image/svg+xml": "SVG"},
           summary="A subject's QR code as SVG (public)")
    def subject_qr_svg(self, request, code):
        return self._qr(request, code, "svg")

    def _qr(self, request, code, fmt):
        self.gate.enter(request)
        qr = self.scoring.subject_qr(code, fmt)
        return Response(base64.b64decode(qr["content_base64"]), content_type=qr["content_type"],
                        headers={"X-Rating-URL": qr["url"]})

    @route("GET", f"/rate/{SUBJECT}", roles=None, tags=TAGS,
           content={"text/html": "the rating form of one subject"},
           summary="What scanning a subject's QR code opens (public): the rating form")
    def rating_form(self, request, code):
        self.gate.enter(request)
        subject = self.scoring.get_subject(code)
        return self.scoring_pages.render("rate.html", subject=subject, levels=LEVELS)

    # -- ratings (SCO-1, GW-2) ---------------------------------------------------------------
    @route("POST", "/api/v1/ratings", roles=(ENTERPRISE,), tags=TAGS, status=201,
           body=sco.RatingCreate, response=sco.RatingOut, errors=(409,),
           example={"subject_code": "win_approval_1", "service_event": "T20261102-0042",
                    "score": 2, "comment": "材料一次性告知不全，跑了两趟"},
           summary="Rate a subject for one service event, once (SCO-1)",
           description="1–2 is a bad rating: a follow-up case opens (`followup_id`). The same "
                       "rating sent again answers 200 with the first one; another score for "
                       "the same subject and service event is refused (409).")
    def rate(self, request):
        caller = self.gate.enter(request)
        data = load(sco.RatingCreate, read_json(request))
        data["enterprise_code"] = caller.org
        rating = self.scoring.rate(rpc_safe(data))
        status = 201 if rating.pop("created") else 200
        return json_response(project(sco.RatingOut, rating), status,
                             {"Location": f"/api/v1/ratings/{rating['id']}"})

    @route("GET", "/api/v1/ratings", roles=ANY_CALLER, tags=TAGS, query=sco.RatingQuery,
           response=sco.RatingOut, response_many=True,
           summary="Ratings the caller may see, newest first (GW-2): an enterprise its own, "
                   "a department its subjects', the task force all")
    def list_ratings(self, request):
        self.gate.enter(request)  # the scoring service decides what the caller sees (GW-2)
        query = load(sco.RatingQuery, query_args(request))
        return json_response([project(sco.RatingOut, r) for r in self.scoring.list_ratings(query)])

    @route("GET", f"/api/v1/ratings/{ID}:rating_id>", roles=ANY_CALLER, tags=TAGS,
           response=sco.RatingOut, summary="One rating; 404 when it is not the caller's (GW-2)")
    def get_rating(self, request, rating_id):
        self.gate.enter(request)  # the scoring service answers 404 for another's (GW-2)
        return json_response(project(sco.RatingOut, self.scoring.get_rating(rating_id)))

    # -- follow-ups (SCO-1 差评必纠) and cards (SCO-2 红黄牌) -----------------------------------
    @route("GET", "/api/v1/followups", roles=REPORTERS, tags=TAGS, query=sco.FollowupQuery,
           response=sco.FollowupOut, response_many=True,
           summary="Bad ratings' follow-ups: a department its own, the task force all")
    def list_followups(self, request):
        self.gate.enter(request)
        query = load(sco.FollowupQuery, query_args(request))
        return json_response([project(sco.FollowupOut, f)
                              for f in self.scoring.list_followups(query)])

    @route("GET", f"/api/v1/followups/{ID}:followup_id>", roles=REPORTERS, tags=TAGS,
           response=sco.FollowupOut, summary="One follow-up with its history")
    def get_followup(self, request, followup_id):
        self.gate.enter(request)
        return json_response(project(sco.FollowupOut, self.scoring.get_followup(followup_id)))

    @route("POST", f"/api/v1/followups/{ID}:followup_id>/<action>", roles=REPORTERS, tags=TAGS,
           body=sco.ActionBody, response=sco.FollowupOut, errors=(409,),
           example={"note": "已核实：已一次性告知所需材料并回访企业"},
           summary="verify | rectify (the unit) · close | groundless (the task force, with a "
                   "note; groundless clears the person's name in public, 澄清正名)")
    def act_on_followup(self, request, followup_id, action):
        self.gate.enter(request)
        params = load(sco.ActionBody, read_json(request))
        return json_response(project(sco.FollowupOut,
                                     self.scoring.act_on_followup(followup_id, action, params)))

    @route("POST", "/api/v1/cards", roles=STAFF, tags=TAGS, status=201, body=sco.CardCreate,
           example={"colour": "yellow", "subject_code": "win_approval_1",
                    "reason": "窗口人员无故离岗，企业等候超过30分钟"},
           response=sco.CardOut, summary="Give a yellow or red card with its reason; an "
                                         "investigation opens (SCO-2)")
    def issue_card(self, request):
        self.gate.enter(request)
        card = self.scoring.issue_card(load(sco.CardCreate, read_json(request)))
        return json_response(project(sco.CardOut, card), 201,
                             {"Location": f"/api/v1/cards/{card['id']}"})

    @route("GET", f"/api/v1/cards/{ID}:card_id>", roles=REPORTERS, tags=TAGS,
           response=sco.CardOut, summary="One card with its history (its unit, the task force)")
    def get_card(self, request, card_id):
        self.gate.enter(request)
        return json_response(project(sco.CardOut, self.scoring.get_card(card_id)))

    @route("POST", f"/api/v1/cards/{ID}:card_id>/<action>", roles=STAFF, tags=TAGS,
           body=sco.ActionBody, response=sco.CardOut, errors=(409,),
           example={"note": "经调查属实，已约谈窗口负责人"},
           summary="find (close the investigation with a finding) | revoke (with a reason, "
                   "kept in the history)")
    def act_on_card(self, request, card_id, action):
        self.gate.enter(request)
        params = load(sco.ActionBody, read_json(request))
        return json_response(project(sco.CardOut,
                                     self.scoring.act_on_card(card_id, action, params)))

    # -- rankings (SCO-3) ----------------------------------------------------------------------
    @route("GET", "/api/v1/rankings/current", roles=ANY_CALLER, tags=TAGS,
           query=sco.RankingCompute, response=sco.RankingOut,
           summary="The standing now from the running totals (not published)")
    def current_ranking(self, request):
        self.gate.enter(request)
        query = load(sco.RankingCompute, query_args(request))
        return json_response(project(sco.RankingOut, self.scoring.compute_ranking(query)))

    @route("POST", "/api/v1/rankings", roles=STAFF, tags=TAGS, status=201,
           body=sco.RankingPublish, response=sco.RankingOut, errors=(409,),
           example={"kind": "windows_monthly", "period": "2026-11"},
           summary="Publish a ranking: frozen with the digest of the raw data it used (SCO-3)",
           description="A published ranking never changes. Publishing the same kind and "
                       "period again is refused (409) unless it names the version it "
                       "`replaces`, with a `reason`: a new version.")
    def publish_ranking(self, request):
        self.gate.enter(request)
        ranking = self.scoring.publish_ranking(load(sco.RankingPublish, read_json(request)))
        return json_response(project(sco.RankingOut, ranking), 201,
                             {"Location": f"/api/v1/rankings/{ranking['id']}"})

    @route("GET", f"/api/v1/rankings/{ID}:ranking_id>", roles=ANY_CALLER, tags=TAGS,
           response=sco.RankingOut, summary="A published ranking")
    def get_ranking(self, request, ranking_id):
        self.gate.enter(request)
        return json_response(project(sco.RankingOut, self.scoring.get_ranking(ranking_id)))

    @route("GET", f"/api/v1/rankings/{ID}:ranking_id>/verify", roles=None, tags=TAGS,
           response=sco.VerifyOut,
           summary="Recompute a published ranking from the stored ratings (public): does it "
                   "match its digest and its result?")
    def verify_ranking(self, request, ranking_id):
        self.gate.enter(request)
        return json_response(project(sco.VerifyOut, self.scoring.verify_ranking(ranking_id)))

    # -- the quarterly sample of key sections (SCO-4) ---------------------------------------------
    @route("POST", "/api/v1/samples", roles=STAFF, tags=TAGS, status=201, body=sco.SampleCreate,
           example={"quarter": "2026-Q4", "size": 8},
           response=sco.SampleOut,
           summary="Draw the quarter's sample of section chiefs (SCO-4): the seed is committed "
                   "before the population is read; replayable")
    def draw_sample(self, request):
        self.gate.enter(request)
        sample = self.scoring.draw_sample(load(sco.SampleCreate, read_json(request)))
        return json_response(project(sco.SampleOut, sample), 201,
                             {"Location": f"/api/v1/samples/{sample['id']}"})

    @route("GET", f"/api/v1/samples/{ID}:sample_id>", roles=REPORTERS, tags=TAGS,
           response=sco.SampleOut,
           summary="A sample replayed from its seed, with each chief's outcome "
                   "(commend / promote / remind / adjust / report)")
    def get_sample(self, request, sample_id):
        self.gate.enter(request)
        return json_response(project(sco.SampleOut, self.scoring.get_sample(sample_id)))

    # -- indicator owners (SCO-5) -------------------------------------------------------------
    @route("GET", "/api/v1/indicators/<period>", roles=REPORTERS, tags=TAGS,
           response=sco.IndicatorStatus, errors=(422,),  # a period that is not a quarter
           summary="The quarter's 41 indicators with their owner units: submitted or missing, "
                   "and the deadline (SCO-5)")
    def indicator_status(self, request, period):
        self.gate.enter(request)
        return json_response(project(sco.IndicatorStatus, self.scoring.indicator_status(period)))

    @route("POST", "/api/v1/indicators/<period>/<code>", roles=REPORTERS, tags=TAGS,
           body=sco.IndicatorSubmit, response=sco.IndicatorStatus, errors=(409,),
           example={"value": "4.5个工作日", "note": "较上季度压缩1个工作日", "evidence": [
               {"name": "审批时限统计表.xlsx", "url": "https://files.example.cn/i/I01.1.xlsx"}]},
           summary="The owner unit submits an indicator's value with evidence, before the "
                   "deadline (SCO-5)")
    def submit_indicator(self, request, period, code):
        self.gate.enter(request)
        status = self.scoring.submit_indicator(period, code,
                                               load(sco.IndicatorSubmit, read_json(request)))
        return json_response(project(sco.IndicatorStatus, status))

    @route("GET", f"/api/v1/sessions/{ID}:session_id>/talks", roles=STAFF, tags=TAGS,
           query=sco.TalkQuery, response=sco.TalksOut,
           summary="Units in the bottom group of this report session and the previous one: "
                   "called in for a talk (SCO-5)")
    def report_talks(self, request, session_id):
        self.gate.enter(request)
        query = load(sco.TalkQuery, query_args(request))
        return json_response(project(sco.TalksOut, self.scoring.report_talks(session_id, query)))

    # -- the live session (SCO-6) -----------------------------------------------------------------
    @route("POST", "/api/v1/sessions", roles=STAFF, tags=TAGS, status=201,
           body=sco.SessionCreate, response=sco.BoardOut,
           example={"title": "2026年第二次指标责任人述职评议",
                    "departments": ["approval", "market", "housing"]},
           summary="Open a live rating session (百户企业评议) for the reporting departments")
    def open_session(self, request):
        self.gate.enter(request)
        board = self.scoring.open_session(load(sco.SessionCreate, read_json(request)))
        return json_response(project(sco.BoardOut, board), 201)

    @route("POST", f"/api/v1/sessions/{ID}:session_id>/scores", roles=(ENTERPRISE,), tags=TAGS,
           body=sco.SessionScoreIn, response=sco.BoardOut, status=201, errors=(409,),
           example={"department": "approval", "score": 92},
           summary="A rater scores one department (1–100), once (SCO-6)")
    def score_session(self, request, session_id):
        self.gate.enter(request)
        board = self.scoring.score_session(session_id,
                                           load(sco.SessionScoreIn, read_json(request)))
        return json_response(project(sco.BoardOut, board), 201)

    @route("GET", f"/api/v1/sessions/{ID}:session_id>", roles=ANY_CALLER, tags=TAGS,
           response=sco.BoardOut, summary="The session's board now")
    def session_board(self, request, session_id):
        self.gate.enter(request)
        return json_response(project(sco.BoardOut, self.scoring.session_board(session_id)))

    @route("POST", f"/api/v1/sessions/{ID}:session_id>/close", roles=STAFF, tags=TAGS,
           response=sco.BoardOut, summary="Close the session: no more scores")
    def close_session(self, request, session_id):
        self.gate.enter(request)
        return json_response(project(sco.BoardOut, self.scoring.close_session(session_id)))

    @route("GET", f"/api/v1/sessions/{ID}:session_id>/stream", roles=ANY_CALLER, tags=TAGS,
           content={"text/event-stream": "`board` events: the BoardOut JSON, each time it "
                                         "changes; the stream ends when the session closes"},
           summary="The board as it forms, as server-sent events (the screen)")
    def stream_session(self, request, session_id):
        caller = self.gate.enter(request)
        self.scoring.session_board(session_id)  # 404 before the stream starts
        config, pages = self.scoring_pages.container.config, self.scoring_pages

        def events():
            yield b": board of a live session\n\n"  # the headers go out at once
            # its own proxy: the worker that made this response is gone by now
            with cluster_proxy(config, caller) as proxy:
                revision, end = None, time.monotonic() + pages.max_seconds
                while time.monotonic() < end:
                    try:
                        board = proxy.scoring.session_board(session_id)
                    except RpcTimeout:  # a busy service: the screen waits, it is not cut off
                        yield b": waiting\n\n"
                        continue
                    if board["revision"] != revision:
                        revision = board["revision"]
                        data = json.dumps(project(sco.BoardOut, board), ensure_ascii=False)
                        yield f"event: board\nid: {revision}\ndata: {data}\n\n".encode()
                    if board["status"] == "closed":
                        return
                    eventlet.sleep(pages.poll)

        # eventlet's server holds writes back until 4 KiB are ready: not for a stream
        request.environ["eventlet.minimum_write_chunk_size"] = 0
        return Response(events(), content_type="text/event-stream; charset=utf-8",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- the monthly notice (SCO-7 红黑榜, 通报) -------------------------------------------------
    @route("GET", f"/api/v1/notices/{MONTH}", roles=REPORTERS, tags=TAGS, response=sco.NoticeOut,
           summary="The month's notice: composite scores, red and black lists, rankings, cards")
    def notice(self, request, month):
        self.gate.enter(request)
        return json_response(project(sco.NoticeOut, self.scoring.monthly_notice({"month": month})))

    @route("GET", f"/api/v1/notices/{MONTH}/notice.xlsx", roles=REPORTERS, tags=TAGS,
           content={XLSX: "the notice as an Excel workbook"}, summary="The notice as XLSX")
    def notice_xlsx(self, request, month):
        self.gate.enter(request)
        out = self.scoring.monthly_notice_xlsx({"month": month})
        return Response(base64.b64decode(out["content_base64"]), content_type=out["content_type"],
                        headers={"Content-Disposition": f'attachment; filename="{out["filename"]}"'})

    @route("GET", f"/notices/{MONTH}", roles=REPORTERS, tags=TAGS,
           content={"text/html": "the notice as a page"}, summary="The notice as a page")
    def notice_page(self, request, month):
        self.gate.enter(request)
        notice = self.scoring.monthly_notice({"month": month})
        return self.scoring_pages.render("notice.html", n=notice, names=self.scoring_pages.names)
