"""Double random, one public (INS-6 双随机一公开): the draw, its public record,
and its replay by anyone from the stored inputs."""
import secrets

from sqlalchemy import func, select

from kernel.calendar import utcnow
from kernel.entrypoints import get_or_404, read_one
from kernel.errors import BadInput, Forbidden
from kernel.rpc import rpc
from kernel.schemas import dump
from kernel.statemachine import actor_of

from .. import domain, registers, schemas
from ..models import Draw, Enterprise, Inspector, Visit, VisitItem
from .base import InspectionsBase


class DrawEntrypoints(InspectionsBase):

    @rpc
    def draw(self, payload):
        caller = self.caller.require()
        if caller.role not in ("department", "taskforce", "admin", "system"):
            raise Forbidden("only departments and the task force draw")
        payload = dict(payload or {}) if isinstance(payload, dict) else payload
        if caller.role == "department" and isinstance(payload, dict):
            payload["department"] = caller.org
        p = schemas.load(schemas.DrawCreate, payload, caller=caller)
        dept = p["department"]
        if dept not in self.rules.profile.departments:
            raise BadInput({"department": ["unknown department"]})
        now = utcnow()
        today = self.rules.today()
        with self.db.transaction() as s:
            items = registers.item_infos(s, p.get("item_codes", []))
            wrong = [c for c in p.get("item_codes", []) if c not in items or items[c].department != dept
                     or not items[c].active]
            if wrong:
                raise BadInput({"item_codes": [f"not on {dept}'s list: {', '.join(wrong)}"]})
            f = p.get("filters") or {}
            population = domain.filter_directory(
                s.execute(select(Enterprise)).scalars(), f.get("industry"), f.get("town"),
                f.get("size"), f.get("key_only", False))
            roster = [person.code for person in s.execute(select(Inspector).where(
                Inspector.department == dept, Inspector.active.is_(True))).scalars()
                if person.certificate_expires is None or person.certificate_expires >= today]
            conflicts = sorted([code, credit] for code, credits in
                               registers.conflicts_of(s, roster).items() for credit in credits)
            per_target = self.rules.policy.draw_inspectors
            # INS-6: the population is fixed and its digest recorded first; only
            # then the platform draws the seed, so no seed was chosen for it.
            digest = domain.population_digest(population, roster, conflicts, p["count"], per_target)
            drawn = Draw(title=p["title"], department=dept, item_codes=p.get("item_codes", []),
                         filters={k: v for k, v in f.items() if v}, count=p["count"],
                         per_target=per_target, candidates=population, roster=sorted(roster),
                         conflicts=conflicts, population_digest=digest, population_fixed_at=now,
                         attempt=1 + self._attempts(s, dept, digest),
                         created_by=actor_of(caller), created_at=now)
            drawn.seed, drawn.seeded_at = secrets.token_hex(32), utcnow()
            try:
                drawn.result = domain.draw(drawn.seed, population, roster,
                                           {tuple(c) for c in conflicts}, p["count"], per_target)
            except domain.DrawError as exc:
                raise BadInput({exc.field: [str(exc)]})
            s.add(drawn)
            s.flush()
            seed = drawn.seed
            self.outbox.add(s, "inspection.drawn", {
                "draw_id": drawn.id, "department": dept, "seed": seed, "count": p["count"],
                "targets": [t["credit_code"] for t in drawn.result]})
            return self._draw_out(s, drawn)

    @staticmethod
    def _attempts(s, department, digest):
        """Earlier draws of the department from the same population: each kept
        and public, so drawing again until the result suits shows."""
        return s.execute(select(func.count()).select_from(Draw).where(
            Draw.department == department, Draw.population_digest == digest)).scalar_one()

    @rpc
    def get_draw(self, draw_id):
        """Public (一公开): no caller needed."""
        return read_one(self.db, Draw, draw_id, "draw", self._draw_out)

    @rpc
    def list_draws(self, query=None):
        """Public (一公开): the latest draws, newest first."""
        q = dict(query) if isinstance(query, dict) else {}
        try:
            limit = min(max(int(q.get("limit", 50)), 1), 200)
        except (TypeError, ValueError):
            raise BadInput({"limit": ["a number from 1 to 200"]})
        with self.db.reading() as s:
            stmt = select(Draw).order_by(Draw.id.desc()).limit(limit)
            if q.get("department"):
                stmt = stmt.where(Draw.department == q["department"])
            return [dump(schemas.DrawSummaryOut, {
                "id": d.id, "title": d.title, "department": d.department, "count": d.count,
                "seed": d.seed, "attempt": d.attempt, "population": len(d.candidates),
                "population_digest": d.population_digest, "created_at": d.created_at,
                "public_url": f"{self.rules.public_base}/draws/{d.id}"})
                for d in s.execute(stmt).scalars()]

    @rpc
    def replay_draw(self, draw_id):
        """Public: re-run a draw from its recorded seed and inputs; the result,
        and the digest of the inputs, must match what was recorded."""
        with self.db.reading() as s:
            drawn = get_or_404(s, Draw, draw_id, "draw")
            again = domain.draw(drawn.seed, drawn.candidates, drawn.roster,
                                {tuple(c) for c in drawn.conflicts}, drawn.count, drawn.per_target)
            digest = domain.population_digest(drawn.candidates, drawn.roster, drawn.conflicts,
                                              drawn.count, drawn.per_target)
            return dump(schemas.DrawReplay, {
                "draw_id": drawn.id, "seed": drawn.seed,
                "population_digest": drawn.population_digest,
                "digest_matches": digest == drawn.population_digest,
                "matches": again == drawn.result, "result": again})

    def _draw_out(self, s, drawn):
        codes_ = [t["credit_code"] for t in drawn.result]
        ents = {e.credit_code: e for e in s.execute(
            select(Enterprise).where(Enterprise.credit_code.in_(codes_))).scalars()}
        people = {p.code: p for p in s.execute(select(Inspector).where(
            Inspector.code.in_([i for t in drawn.result for i in t["inspectors"]]))).scalars()}
        visits = {}
        for v in s.execute(select(Visit).where(Visit.draw_id == drawn.id, Visit.status.in_(
                (domain.PENDING, domain.APPROVED, domain.COMPLETED))).order_by(Visit.id)).scalars():
            visits[v.enterprise_code] = v
        found = dict(s.execute(select(VisitItem.visit_id, func.count()).where(
            VisitItem.visit_id.in_([v.id for v in visits.values()]),
            VisitItem.outcome == domain.VIOLATION).group_by(VisitItem.visit_id)).all())
        targets = []
        for t in drawn.result:
            e, v = ents.get(t["credit_code"]), visits.get(t["credit_code"])
            targets.append({
                "credit_code": t["credit_code"], "enterprise_name": e.name if e else "",
                "town": e.town if e else None, "industry": e.industry if e else None,
                "inspectors": [{"code": i, "name": people[i].name if i in people else "",
                                "certificate_no": people[i].certificate_no if i in people else ""}
                               for i in t["inspectors"]],
                "inspection_id": v.id if v else None, "status": v.status if v else None,
                "violations_found": found.get(v.id, 0) if v and v.status == domain.COMPLETED else None})
        return dump(schemas.Draw, {
            "id": drawn.id, "title": drawn.title, "department": drawn.department,
            "item_codes": drawn.item_codes, "filters": drawn.filters, "count": drawn.count,
            "per_target": drawn.per_target, "seed": drawn.seed,
            "population": len(drawn.candidates), "roster_size": len(drawn.roster),
            "population_digest": drawn.population_digest,
            "population_fixed_at": drawn.population_fixed_at, "seeded_at": drawn.seeded_at,
            "attempt": drawn.attempt, "candidates": drawn.candidates, "roster": drawn.roster,
            "conflicts": drawn.conflicts,
            "targets": targets, "created_at": drawn.created_at,
            "public_url": f"{self.rules.public_base}/draws/{drawn.id}"})
