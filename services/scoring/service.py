"""Nameko entrypoints of the scoring service (评价, SCO-1 … SCO-7). Thin:
validate with the schema, apply the domain, commit state and events together
(outbox), answer."""
import base64
import io
import json
import logging
import secrets
from pathlib import Path

import segno
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from kernel.calendar import utcnow
from kernel.config import ROOT, setting, setting_json
from kernel.consumers import consumes
from kernel.entrypoints import due_ids, get_or_404, object_id, read_one, service_dependencies
from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.rpc import rpc
from kernel.rules import CountyRules
from kernel.timers import configurable_timer

from . import domain, schemas, tallies
from .models import (Card, CountedViolation, Followup, History, IndicatorSubmission,
                     LiveSession, Ranking, Rating, Sample, SessionScore, SessionTotal, Subject,
                     WorkStat, outbox_table, processed_table)

_log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Rules(CountyRules):
    """The county, its subjects directory, the rules' configuration and the calendar."""

    def configure(self, config):
        d = domain.Policy()
        self.policy = domain.Policy(
            followup_days=int(setting(config, "SCO_FOLLOWUP_DAYS", d.followup_days)),
            min_ratings=int(setting(config, "SCO_MIN_RATINGS", d.min_ratings)),
            best=int(setting(config, "SCO_BEST", d.best)),
            worst=int(setting(config, "SCO_WORST", d.worst)),
            weights={**d.weights, **setting_json(config, "SCO_WEIGHTS", {})},
            red_list=int(setting(config, "SCO_RED_LIST", d.red_list)),
            black_list=int(setting(config, "SCO_BLACK_LIST", d.black_list)),
            outcomes={**d.outcomes, **setting_json(config, "SCO_SAMPLE_OUTCOMES", {})},
            sample_min_ratings=int(setting(config, "SCO_SAMPLE_MIN_RATINGS",
                                           d.sample_min_ratings)),
            indicator_due_days=int(setting(config, "SCO_INDICATOR_DUE_DAYS",
                                           d.indicator_due_days)),
            bottom_group=int(setting(config, "SCO_BOTTOM_GROUP", d.bottom_group)))
        path = setting(config, "SCO_SUBJECTS", str(ROOT / "config" / "scoring" / "subjects.json"))
        self.subjects = json.loads(Path(path).read_text(encoding="utf-8"))["subjects"]
        path = setting(config, "SCO_INDICATORS",
                       str(ROOT / "config" / "scoring" / "indicators.json"))
        self.indicators = domain.check_indicators(
            json.loads(Path(path).read_text(encoding="utf-8")), self.profile.departments)
        self.public_base = str(setting(config, "SCO_PUBLIC_BASE_URL",
                                       "http://127.0.0.1:8000")).rstrip("/")

    def seed(self, s):
        # The directory is configuration: each start brings the table in line with it.
        for row in self.subjects:
            subject = s.get(Subject, row["code"]) or Subject(code=row["code"])
            subject.kind, subject.name = row["kind"], row["name"]
            subject.department = row["department"]
            subject.unit_kind = row.get("unit_kind")
            s.add(subject)

    def rating_url(self, code):
        return f"{self.public_base}/rate/{code}"


class ScoringService(service_dependencies(MIGRATIONS, outbox_table, processed_table)):
    name = "scoring"

    rules = Rules()

    # -- subjects and their QR codes (SCO-1) ------------------------------------------------
    @rpc
    def list_subjects(self, query=None):
        self.caller.require()
        q = schemas.load(schemas.SubjectQuery, query)
        stmt = select(Subject).order_by(Subject.kind, Subject.code)
        if q["kind"]:
            stmt = stmt.where(Subject.kind == q["kind"])
        if q["department"]:
            stmt = stmt.where(Subject.department == q["department"])
        with self.db.reading() as s:
            return [self._subject_out(x) for x in s.execute(stmt).scalars()]

    @rpc
    def get_subject(self, code):
        """Public: what the rating form shows (no personal data in the directory)."""
        with self.db.reading() as s:
            subject = s.get(Subject, str(code))
            if subject is None:
                raise NotFound("no such subject")
            return self._subject_out(subject)

    @rpc
    def subject_qr(self, code, kind):
        """The subject's QR code (png | svg): it opens the rating form on a phone."""
        if kind not in ("png", "svg"):
            raise NotFound("no such image")
        with self.db.reading() as s:
            found = s.execute(select(Subject.code).where(Subject.code == str(code))).scalar()
        if found is None:
            raise NotFound("no such subject")
        url = self.rules.rating_url(found)
        out = io.BytesIO()
        segno.make(url, error="m").save(out, kind=kind, scale=8 if kind == "png" else 4, border=3)
        return {"content_type": "image/png" if kind == "png" else "image/svg+xml",
                "content_base64": base64.b64encode(out.getvalue()).decode("ascii"), "url": url}

    # -- ratings (SCO-1) -------------------------------------------------------------------
    @rpc
    def rate(self, payload):
        """An enterprise rates a subject for a service event: once. The same
        rating sent again answers the first one; another score is refused."""
        caller = self.caller.require()
        if caller.role != "enterprise":
            raise Forbidden("only enterprises rate")
        payload = dict(payload or {}, enterprise_code=caller.org)  # an enterprise rates as itself
        data = schemas.load(schemas.RatingCreate, payload)
        event = f"qr:{data['service_event']}"
        existing = self._existing_rating(caller.org, data["subject_code"], event)
        if existing is None:
            try:
                with self.db.transaction() as s:
                    subject = s.get(Subject, data["subject_code"])
                    if subject is None:
                        raise BadInput({"subject_code": ["unknown subject"]})
                    rating = self._record_rating(
                        s, subject.code, subject.kind, subject.department, caller.org, event,
                        "qr", data["score"], data["comment"])
                    return dict(self._rating_out(s, rating), created=True)
            except IntegrityError:  # the same rating raced in twice: one rating
                existing = self._existing_rating(caller.org, data["subject_code"], event)
                if existing is None:
                    raise
        if existing["score"] != data["score"]:
            raise Conflict("this service event is already rated by this enterprise",
                           {"rating_id": existing["id"]})
        return dict(existing, created=False)

    def _existing_rating(self, enterprise, subject_code, event):
        with self.db.reading() as s:
            rating = s.execute(select(Rating).where(
                Rating.enterprise_code == enterprise, Rating.subject_code == subject_code,
                Rating.service_event == event)).scalar_one_or_none()
            return self._rating_out(s, rating) if rating else None

    def _record_rating(self, s, code, kind, department, enterprise, event, source, score,
                       comment=None):
        now = utcnow()
        rating = Rating(subject_code=code, subject_kind=kind, department=department,
                        enterprise_code=enterprise, service_event=event, source=source,
                        score=score, comment=comment, rated_at=now,
                        period=domain.period_of(now, self.rules.calendar))
        s.add(rating)
        s.flush()
        bad = domain.is_bad(score)
        self.metrics.counter("qinqing_scoring_ratings", "Ratings recorded",
                             ["source", "bad"]).labels(source, str(bad).lower()).inc()
        if bad:
            followup = Followup(rating_id=rating.id, subject_code=code, subject_kind=kind,
                                department=department)
            effect = domain.open_followup(followup, rating, now, self.rules.calendar,
                                          self.rules.policy)
            s.add(followup)
            s.flush()
            self._history(s, "followup", followup.id, effect, now)
            self.outbox.add(s, "rating.bad", {
                "subject_kind": kind, "subject_code": code, "department": department,
                "rating_id": rating.id, "rating": score, "followup_id": followup.id,
                "due_at": followup.due_at, "enterprise_code": enterprise, "source": source})
        # Last before the commit: the subject's running total is a hot row
        # (every rating of it in the month), so its lock is held the shortest.
        tallies.count_rating(s, rating, bad)
        return rating

    @rpc
    def get_rating(self, rating_id):
        caller = self.caller.require()
        return read_one(self.db, Rating, rating_id, "rating", self._rating_out,
                        check=lambda rating: domain.check_rating_visible(rating, caller))

    @rpc
    def list_ratings(self, query=None):
        """GW-2: an enterprise its own, a department its subjects', the task force all."""
        caller = self.caller.require()
        q = schemas.load(schemas.RatingQuery, query)
        stmt = select(Rating).order_by(Rating.id.desc()).limit(q["limit"])
        if caller.role == "enterprise":
            stmt = stmt.where(Rating.enterprise_code == caller.org)
        elif caller.role == "department":
            stmt = stmt.where(Rating.department == caller.org)
        elif not caller.is_staff:
            return []
        if q["subject_code"]:
            stmt = stmt.where(Rating.subject_code == q["subject_code"])
        if q["period"]:
            stmt = stmt.where(Rating.period == q["period"])
        with self.db.reading() as s:
            return [self._rating_out(s, r) for r in s.execute(stmt).scalars()]

    # -- follow-ups of bad ratings (SCO-1 差评必纠) --------------------------------------------
    @rpc
    def get_followup(self, followup_id):
        caller = self.caller.require()
        with self.db.reading() as s:
            followup = s.get(Followup, object_id(followup_id))
            self._check_unit(followup, caller, "follow-up")
            return self._followup_out(s, followup)

    @rpc
    def list_followups(self, query=None):
        caller = self.caller.require()
        q = schemas.load(schemas.FollowupQuery, query)
        stmt = select(Followup).order_by(Followup.id.desc()).limit(200)
        if caller.role == "department":
            stmt = stmt.where(Followup.department == caller.org)
        elif not caller.is_staff:
            return []
        if q["status"]:
            stmt = stmt.where(Followup.status == q["status"])
        with self.db.reading() as s:
            return [self._followup_out(s, f) for f in s.execute(stmt).scalars()]

    @rpc
    def act_on_followup(self, followup_id, action, params=None):
        caller = self.caller.require()
        p = schemas.load(schemas.ActionBody, params)
        now = utcnow()
        try:
            with self.db.transaction() as s:
                followup = s.get(Followup, object_id(followup_id))
                self._check_unit(followup, caller, "follow-up")
                effect = domain.act_on_followup(followup, action, p["note"], caller, now,
                                                self.rules.calendar)
                s.flush()
                self._history(s, "followup", followup.id, effect, now)
                return self._followup_out(s, followup)
        except StaleDataError:
            raise Conflict("the follow-up changed meanwhile; read it again and retry")

    @configurable_timer("SWEEP_INTERVAL_SECONDS", 60)
    def sweep(self):
        """Escalate overdue follow-ups (indexed ``next_check_at``), one transaction each."""
        now = utcnow()
        with self.db.reading() as s:
            ids = due_ids(s, Followup.next_check_at, now)
        return sum(self._sweep_one(i, now) for i in ids)

    def _sweep_one(self, followup_id, now):
        try:
            with self.db.transaction() as s:
                f = s.get(Followup, followup_id)
                levels = domain.followup_due_steps(f, now, self.rules.calendar) if f else []
                if not levels:
                    return 0
                effect = domain.escalate_followup(f, levels, self.rules.calendar)
                s.flush()
                self._history(s, "followup", f.id, effect, now)
                base = {"subject_kind": f.subject_kind, "subject_code": f.subject_code,
                        "department": f.department, "followup_id": f.id,
                        "rating_id": f.rating_id, "due_at": f.due_at}
                self.outbox.add_many(s, [(t, {**base, **extra}) for t, extra in effect.events])
                return 1
        except StaleDataError:
            return 0  # another instance took this step

    # -- cards (SCO-2 红黄牌) ------------------------------------------------------------------
    @rpc
    def issue_card(self, payload):
        caller = self.caller.require()
        data = schemas.load(schemas.CardCreate, payload)
        now = utcnow()
        with self.db.transaction() as s:
            subject = s.get(Subject, data["subject_code"])
            if subject is None:
                raise BadInput({"subject_code": ["unknown subject"]})
            card = Card(colour=data["colour"], subject_code=subject.code,
                        subject_kind=subject.kind, department=subject.department,
                        reason=data["reason"],
                        period=domain.period_of(now, self.rules.calendar))
            effect = domain.issue_card(card, caller, now)
            s.add(card)
            s.flush()
            self._history(s, "card", card.id, effect, now)
            self.outbox.add_many(s, [(t, {
                "subject_kind": card.subject_kind, "subject_code": card.subject_code,
                "department": card.department, "card_id": card.id, "colour": card.colour,
                "reason": card.reason, "issued_by": card.issued_by}) for t, _ in effect.events])
            return self._card_out(s, card)

    @rpc
    def get_card(self, card_id):
        caller = self.caller.require()
        with self.db.reading() as s:
            card = s.get(Card, object_id(card_id))
            self._check_unit(card, caller, "card")
            return self._card_out(s, card)

    @rpc
    def act_on_card(self, card_id, action, params=None):
        caller = self.caller.require()
        p = schemas.load(schemas.ActionBody, params)
        now = utcnow()
        with self.db.transaction() as s:
            card = s.get(Card, object_id(card_id))
            self._check_unit(card, caller, "card")
            effect = domain.act_on_card(card, action, p["note"], caller, now)
            self._history(s, "card", card.id, effect, now)
            return self._card_out(s, card)

    # -- rankings (SCO-3) ------------------------------------------------------------------
    @rpc
    def compute_ranking(self, query):
        """The standing now, from the running totals (not published, not frozen)."""
        self.caller.require()
        q = schemas.load(schemas.RankingCompute, query)
        kind = domain.RANKING_KINDS[q["kind"]]
        months = domain.check_period(kind, q["period"])
        with self.db.reading() as s:
            totals = tallies.totals(s, months, kind.subject_kinds)
        return self._ranking_out(None, q["kind"], q["period"], totals, self.rules.policy)

    @rpc
    def publish_ranking(self, payload):
        """Freeze the ranking with the digest of the raw data it used. A
        published one never changes; a correction is a new version naming it."""
        caller = self.caller.require()
        if not caller.is_staff:
            raise Forbidden("only the task force publishes rankings")
        q = schemas.load(schemas.RankingPublish, payload)
        kind = domain.RANKING_KINDS[q["kind"]]
        months = domain.check_period(kind, q["period"])
        policy = self.rules.policy
        now = utcnow()
        try:
            with self.db.transaction() as s:
                latest = s.execute(select(Ranking).where(
                    Ranking.kind == q["kind"], Ranking.period == q["period"])
                    .order_by(Ranking.version.desc()).limit(1)).scalar_one_or_none()
                if latest is not None and q["replaces"] != latest.id:
                    raise Conflict("already published; a correction names the version it "
                                   "replaces", {"latest": latest.id})
                if latest is None and q["replaces"] is not None:
                    raise BadInput({"replaces": ["nothing published for this kind and period"]})
                if q["replaces"] is not None and not q["reason"]:
                    raise BadInput({"reason": ["a correction says why"]})
                totals = tallies.totals(s, months, kind.subject_kinds)
                result = domain.rank(kind, totals, policy)
                ranking = Ranking(
                    kind=q["kind"], period=q["period"],
                    version=(latest.version + 1) if latest else 1,
                    replaces=latest.id if latest else None, correction_reason=q["reason"],
                    min_ratings=policy.min_ratings, best_n=policy.best, worst_n=policy.worst,
                    digest=domain.digest(totals), result=result,
                    published_by=domain.actor_of(caller), published_at=now)
                s.add(ranking)
                s.flush()
                self.outbox.add(s, "ranking.published", {
                    "ranking_id": ranking.id, "kind": ranking.kind, "period": ranking.period,
                    "version": ranking.version, "replaces": ranking.replaces,
                    "digest": ranking.digest, "best": result["best"], "worst": result["worst"]})
                return self._published_out(ranking)
        except IntegrityError:
            raise Conflict("another version was published meanwhile; read it and retry")

    @rpc
    def get_ranking(self, ranking_id):
        self.caller.require()
        with self.db.reading() as s:
            ranking = get_or_404(s, Ranking, ranking_id, "ranking")
            return self._published_out(ranking)

    @rpc
    def verify_ranking(self, ranking_id):
        """Recompute a published ranking from the stored ratings (GROUP BY)."""
        with self.db.reading() as s:
            ranking = get_or_404(s, Ranking, ranking_id, "ranking")
            kind = domain.RANKING_KINDS[ranking.kind]
            raw = tallies.recount(s, domain.months_of(ranking.period), kind.subject_kinds)
            policy = domain.Policy(min_ratings=ranking.min_ratings, best=ranking.best_n,
                                   worst=ranking.worst_n)
            recomputed = domain.digest(raw)
            same_result = json.loads(json.dumps(domain.rank(kind, raw, policy))) == ranking.result
            return schemas.dump(schemas.VerifyOut, {
                "ranking_id": ranking.id, "matches": recomputed == ranking.digest and same_result,
                "published_digest": ranking.digest, "recomputed_digest": recomputed,
                "result_matches": same_result})

    # -- key sections sampled (SCO-4 重点股室大家评) ---------------------------------------------
    @rpc
    def draw_sample(self, payload):
        """Commit the seed first, then read the population and draw from it."""
        caller = self.caller.require()
        if not caller.is_staff:
            raise Forbidden("only the task force draws the sample")
        data = schemas.load(schemas.SampleCreate, payload)
        with self.db.transaction() as s:
            sample = Sample(quarter=data["quarter"], size=data["size"],
                            seed=secrets.token_hex(16), seeded_at=utcnow(),
                            drawn_by=domain.actor_of(caller))
            s.add(sample)
            s.flush()
            sample_id = sample.id
        with self.db.transaction() as s:
            sample = s.get(Sample, sample_id)
            sample.population = sorted(s.execute(select(Subject.code).where(
                Subject.kind == "section_chief",
                Subject.unit_kind.in_(domain.SAMPLED_UNIT_KINDS))).scalars())
            sample.chosen = domain.draw_sample(sample.seed, sample.population, sample.size)
            sample.drawn_at = utcnow()
        return self.get_sample(sample_id)

    @rpc
    def get_sample(self, sample_id):
        """The sample, replayed from its seed and population, and each chosen
        chief's outcome from the quarter's ratings (thresholds from configuration)."""
        self.caller.require()
        policy = self.rules.policy
        with self.db.reading() as s:
            sample = get_or_404(s, Sample, sample_id, "sample")
            chosen = sample.chosen or []
            totals = {code: (n, total) for code, n, total, _s, _m in tallies.totals(
                s, domain.months_of(sample.quarter), ("section_chief",))}
            subjects = {x.code: x for x in s.execute(
                select(Subject).where(Subject.code.in_(chosen))).scalars()}
            results = []
            for code in chosen:
                n, total = totals.get(code, (0, 0))
                subject = subjects.get(code)
                results.append({
                    "subject_code": code, "name": subject.name if subject else "",
                    "department": subject.department if subject else "",
                    "rating_url": self.rules.rating_url(code), "ratings": int(n),
                    "mean": round(int(total) / int(n), 4) if n else None,
                    "outcome": domain.sample_outcome(int(n), int(total), policy.outcomes,
                                                     policy.sample_min_ratings)})
            replay = (sample.population is not None and domain.draw_sample(
                sample.seed, sample.population, sample.size) == chosen)
            return schemas.dump(schemas.SampleOut, {
                **{c: getattr(sample, c) for c in ("id", "quarter", "size", "seed", "seeded_at",
                                                   "drawn_at", "drawn_by")},
                "population": sample.population or [], "chosen": chosen,
                "replay_matches": replay, "thresholds": policy.outcomes,
                "min_ratings": policy.sample_min_ratings, "results": results})

    # -- indicator owners report (SCO-5 指标责任人述职) -------------------------------------------
    @rpc
    def submit_indicator(self, period, code, payload):
        """An owner unit's value of one indicator for a quarter, with evidence,
        before the deadline; submitting again before it replaces the value."""
        caller = self.caller.require()
        period = schemas.load(schemas.QuarterQuery, {"quarter": period})["quarter"]
        data = schemas.load(schemas.IndicatorSubmit, payload)
        indicator = self.rules.indicators.get(str(code))
        now = utcnow()
        deadline = domain.submission_deadline(period, self.rules.calendar,
                                              self.rules.policy.indicator_due_days)
        domain.check_submission(indicator, caller, now, deadline)
        try:
            with self.db.transaction() as s:
                row = s.execute(select(IndicatorSubmission).where(
                    IndicatorSubmission.period == period,
                    IndicatorSubmission.code == indicator["code"])).scalar_one_or_none()
                if row is None:
                    row = IndicatorSubmission(period=period, code=indicator["code"],
                                              owner=indicator["owner"])
                    s.add(row)
                row.value, row.evidence, row.note = data["value"], data["evidence"], data["note"]
                row.submitted_by, row.submitted_at = domain.actor_of(caller), now
        except IntegrityError:
            raise Conflict("submitted meanwhile by another; read it and submit again")
        return self.indicator_status(period)

    @rpc
    def indicator_status(self, period):
        """Every second-level indicator of the quarter: submitted or missing."""
        caller = self.caller.require()
        if caller.role == "enterprise":
            raise Forbidden("the indicators' status is for the units and the task force")
        period = schemas.load(schemas.QuarterQuery, {"quarter": period})["quarter"]
        with self.db.reading() as s:
            done = {r.code: r for r in s.execute(select(IndicatorSubmission).where(
                IndicatorSubmission.period == period)).scalars()}
            rows = []
            for code, ind in self.rules.indicators.items():
                sub = done.get(code)
                rows.append({**{k: ind[k] for k in ("code", "name", "parent", "parent_name",
                                                      "owner")},
                             "submitted": sub is not None, "value": sub.value if sub else None,
                             "evidence": sub.evidence if sub else [],
                             "submitted_at": sub.submitted_at if sub else None})
        return schemas.dump(schemas.IndicatorStatus, {
            "period": period, "indicators": rows,
            "deadline": domain.submission_deadline(period, self.rules.calendar,
                                                   self.rules.policy.indicator_due_days),
            "missing": [r["code"] for r in rows if not r["submitted"]]})

    @rpc
    def report_talks(self, session_id, query):
        """Units in the bottom group of this report session and the previous one."""
        caller = self.caller.require()
        if not caller.is_staff:
            raise Forbidden("only the task force calls units in for a talk")
        previous = schemas.load(schemas.TalkQuery, query)["previous"]
        latest, before = self.session_board(session_id), self.session_board(previous)
        group = self.rules.policy.bottom_group
        return schemas.dump(schemas.TalksOut, {
            "session_id": latest["session_id"], "previous": before["session_id"],
            "bottom_group": group,
            "flagged": domain.bottom_twice(latest["board"], before["board"], group)})

    # -- live rating session (SCO-6 百户企业评议) ------------------------------------------------
    @rpc
    def open_session(self, payload):
        caller = self.caller.require()
        if not caller.is_staff:
            raise Forbidden("only the task force opens a session")
        data = schemas.load(schemas.SessionCreate, payload)
        unknown = [d for d in data["departments"] if d not in self.rules.profile.departments]
        if unknown:
            raise BadInput({"departments": [f"unknown departments: {', '.join(unknown)}"]})
        with self.db.transaction() as s:
            live = LiveSession(title=data["title"], departments=sorted(set(data["departments"])),
                               status=domain.SESSION_OPEN, created_at=utcnow())
            s.add(live)
            s.flush()
            return self._board(s, live)

    @rpc
    def score_session(self, session_id, payload):
        """One rater's score of one department; a second one is refused (409)."""
        caller = self.caller.require()
        data = schemas.load(schemas.SessionScoreIn, payload)
        rater = caller.org  # one enterprise, one voice per department
        try:
            with self.db.transaction() as s:
                live = get_or_404(s, LiveSession, session_id, "session")
                domain.check_session_score(live, data["department"], caller)
                s.add(SessionScore(session_id=live.id, rater=rater, department=data["department"],
                                   score=data["score"], at=utcnow()))
                s.flush()
                tallies.add(s, SessionTotal, {"session_id": live.id,
                                              "department": data["department"]},
                            {"scores": 1, "total": data["score"]})
        except IntegrityError:
            raise Conflict("this rater has already scored this department")
        return self.session_board(session_id)

    @rpc
    def session_board(self, session_id):
        return read_one(self.db, LiveSession, session_id, "session", self._board)

    @rpc
    def close_session(self, session_id):
        caller = self.caller.require()
        if not caller.is_staff:
            raise Forbidden("only the task force closes a session")
        with self.db.transaction() as s:
            live = get_or_404(s, LiveSession, session_id, "session")
            live.status = domain.SESSION_CLOSED
            return self._board(s, live)

    # -- scores from the work itself and the monthly notice (SCO-7) -------------------------------
    @rpc
    def monthly_notice(self, query):
        """通报: composite scores, red and black lists, the month's rankings and cards."""
        caller = self.caller.require()
        if caller.role == "enterprise":
            raise Forbidden("the notice is for the units and the task force")
        month = schemas.load(schemas.MonthQuery, query)["month"]
        return self._notice(month)  # a NoticeOut: its parts dumped by their own schemas

    @rpc
    def monthly_notice_xlsx(self, query):
        notice = self.monthly_notice(query)
        wb = Workbook()
        ws = wb.active
        ws.title = "红黑榜"
        ws.append(["部门", "综合得分", "按时答复", "答复", "逾期", "评价数", "评价总分",
                   "安静日违规", "检查频次超限", "应急补报迟报"])
        for r in notice["scores"]:
            ws.append([r["department"], r["composite"], r["replied_on_time"], r["replied"],
                       r["overdue"], r["rated"], r["rating_total"], r["quiet_day_violations"],
                       r["cap_violations"], r["late_filings"]])
        ws.append([])
        ws.append(["红榜"] + notice["red"])
        ws.append(["黑榜"] + notice["black"])
        rk = wb.create_sheet("排名")
        rk.append(["排名", "类别", "名次", "对象", "评价数", "平均分", "摘要"])
        for ranking in notice["rankings"]:
            for row in ranking["ranked"]:
                rk.append([ranking["id"], ranking["kind"], row["place"], row["subject_code"],
                           row["ratings"], row["mean"], ranking["digest"]])
        cs = wb.create_sheet("红黄牌")
        cs.append(["编号", "颜色", "对象", "单位", "事由", "状态"])
        for c in notice["cards"]:
            cs.append([c["id"], c["colour"], c["subject_code"], c["department"], c["reason"],
                       c["status"]])
        out = io.BytesIO()
        wb.save(out)
        return {"filename": f"notice-{notice['month']}.xlsx", "content_type": XLSX,
                "content_base64": base64.b64encode(out.getvalue()).decode("ascii")}

    def _notice(self, month):
        policy = self.rules.policy
        with self.db.reading() as s:
            scores = []
            for w in tallies.work_stats(s, month):
                stats = {f: getattr(w, f) or 0 for f in domain.WORK_FIELDS}
                scores.append({"department": w.department,
                               "composite": domain.composite(stats, policy.weights), **stats})
            lists = domain.red_black_lists({r["department"]: r["composite"] for r in scores},
                                           policy)
            latest = (select(Ranking.kind, func.max(Ranking.version).label("v"))
                      .where(Ranking.period == month).group_by(Ranking.kind).subquery())
            rankings = s.execute(select(Ranking).join(latest, (Ranking.kind == latest.c.kind)
                                                      & (Ranking.version == latest.c.v))
                                 .where(Ranking.period == month)
                                 .order_by(Ranking.kind)).scalars().all()
            cards = s.execute(select(Card).where(Card.period == month)
                              .order_by(Card.id)).scalars().all()
            return {"month": month, "weights": policy.weights,
                    "scores": sorted(scores, key=lambda r: (-r["composite"], r["department"])),
                    "red": lists["red"], "black": lists["black"],
                    "rankings": [self._published_out(r) for r in rankings],
                    "cards": [self._card_out(s, c) for c in cards]}

    # -- what other services tell us --------------------------------------------------------
    @consumes("appeals", "appeal.rated")
    def on_appeal_rated(self, session, data, envelope):
        """The enterprise's rating of an appeal's answer rates the lead department."""
        department = data["lead_department"]
        if not department:
            return
        event = f"appeal:{data['appeal_id']}"
        seen = session.execute(select(Rating.id).where(
            Rating.enterprise_code == data["enterprise_code"], Rating.subject_code == department,
            Rating.service_event == event)).first()
        if seen:
            return  # the same appeal's rating under another event id: counted once
        subject = session.get(Subject, department)
        self._record_rating(session, department, subject.kind if subject else "department",
                            department, data["enterprise_code"], event, "appeal", data["rating"])
        self._work(session, department, envelope, rated=1, rating_total=data["rating"])

    @consumes("appeals", "appeal.replied")
    def on_appeal_replied(self, session, data, envelope):
        if data["lead_department"]:
            self._work(session, data["lead_department"], envelope, replied=1,
                       replied_on_time=int(data["on_time"]))

    @consumes("appeals", "appeal.escalated")
    def on_appeal_escalated(self, session, data, envelope):
        # 挂牌督办 is the first step past the deadline: one overdue appeal, counted once
        if data["lead_department"] and data["step"] == "supervision":
            self._work(session, data["lead_department"], envelope, overdue=1)

    @consumes("inspections", "inspection.filed")
    def on_inspection_filed(self, session, data, envelope):
        self._count_violations(session, data)

    @consumes("inspections", "inspection.approved")
    def on_inspection_approved(self, session, data, envelope):
        self._count_violations(session, data)

    @consumes("inspections", "inspection.flagged")
    def on_inspection_flagged(self, session, data, envelope):
        self._count_once(session, data, "INS-5", "late_filings")

    _VIOLATION_COLUMNS = {"INS-2": "quiet_day_violations", "INS-3": "cap_violations"}

    def _count_violations(self, session, data):
        for rule in {v["rule"] for v in data["violations"]} & set(self._VIOLATION_COLUMNS):
            self._count_once(session, data, rule, self._VIOLATION_COLUMNS[rule])

    def _count_once(self, session, data, rule, column):
        key = {"inspection_id": data["inspection_id"], "rule": rule}
        if session.get(CountedViolation, tuple(key.values())) is not None:
            return
        period = data["planned_date"].strftime("%Y-%m")
        session.add(CountedViolation(**key, department=data["department"], period=period))
        tallies.add(session, WorkStat, {"department": data["department"], "period": period},
                    {column: 1})

    def _work(self, session, department, envelope, **increments):
        period = domain.period_of(envelope["occurred_at"], self.rules.calendar)
        tallies.add(session, WorkStat, {"department": department, "period": period}, increments)

    # -- operations --------------------------------------------------------------------------
    @configurable_timer("GAUGE_INTERVAL_SECONDS", 15, eager=True)
    def refresh_gauges(self):
        """Business gauges on a schedule, not per scrape (the admin port serves them)."""
        open_cases = self.metrics.gauge("qinqing_scoring_followups_open",
                                        "Bad ratings' follow-ups not yet closed")
        with self.db.reading() as s:
            open_cases.set(s.execute(select(func.count()).select_from(Followup).where(
                Followup.status.not_in(domain.FOLLOWUP_DONE))).scalar_one())

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _check_unit(thing, caller, what):
        """A follow-up or card: its own unit and the task force see it; nobody else."""
        if thing is None or not (caller.is_staff or (caller.role == "department"
                                                      and caller.org == thing.department)):
            raise NotFound(f"no such {what}")

    @staticmethod
    def _history(s, thing, thing_id, effect, now):
        for h in effect.history:
            s.add(History(thing=thing, thing_id=thing_id, at=now, **h))

    @staticmethod
    def _history_of(s, thing, thing_id):
        return s.execute(select(History).where(History.thing == thing, History.thing_id == thing_id)
                         .order_by(History.id)).scalars().all()

    def _subject_out(self, subject):
        return schemas.dump(schemas.SubjectOut, {
            "code": subject.code, "kind": subject.kind, "name": subject.name,
            "department": subject.department, "rating_url": self.rules.rating_url(subject.code)})

    @staticmethod
    def _rating_out(s, rating):
        followup = s.execute(select(Followup.id).where(Followup.rating_id == rating.id)).scalar()
        d = schemas.dump(schemas.RatingOut, rating)
        d["followup_id"] = followup
        return d

    def _followup_out(self, s, followup):
        d = {c: getattr(followup, c) for c in schemas.FollowupOut._declared_fields if c != "history"}
        d["history"] = self._history_of(s, "followup", followup.id)
        return schemas.dump(schemas.FollowupOut, d)

    def _card_out(self, s, card):
        d = {c: getattr(card, c) for c in schemas.CardOut._declared_fields if c != "history"}
        d["history"] = self._history_of(s, "card", card.id)
        return schemas.dump(schemas.CardOut, d)

    @staticmethod
    def _ranking_out(ranking_id, kind, period, totals, policy):
        result = domain.rank(domain.RANKING_KINDS[kind], totals, policy)
        return schemas.dump(schemas.RankingOut, {
            "id": ranking_id, "kind": kind, "period": period, "formula": domain.FORMULA,
            "tie_break": domain.TIE_BREAK, "min_ratings": policy.min_ratings,
            "digest": domain.digest(totals), **result})

    @staticmethod
    def _published_out(ranking):
        return schemas.dump(schemas.RankingOut, {
            "id": ranking.id, "kind": ranking.kind, "period": ranking.period,
            "version": ranking.version, "replaces": ranking.replaces,
            "correction_reason": ranking.correction_reason, "formula": domain.FORMULA,
            "tie_break": domain.TIE_BREAK, "min_ratings": ranking.min_ratings,
            "digest": ranking.digest, **ranking.result, "published_by": ranking.published_by,
            "published_at": ranking.published_at})

    @staticmethod
    def _board(s, live):
        totals = tallies.session_totals(s, live.id)
        return schemas.dump(schemas.BoardOut, {
            "session_id": live.id, "title": live.title, "status": live.status,
            "revision": domain.board_revision(totals, live.status),
            "departments": live.departments, "board": domain.board(totals)})

