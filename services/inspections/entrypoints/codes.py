"""The entry code (INS-4 红绿码): the QR code of a visit, green or red, and
what scanning it shows (public). The gateway renders the page; this answers data."""
import base64

from sqlalchemy import select

from kernel.errors import BadInput
from kernel.rpc import rpc

from .. import codes, domain
from ..models import Visit, VisitInspector
from .base import InspectionsBase


class EntryCodeEntrypoints(InspectionsBase):

    @rpc
    def entry_code(self, inspection_id, fmt="png"):
        caller = self.caller.require()
        if fmt not in ("png", "svg"):
            raise BadInput({"fmt": ["png or svg"]})
        with self.db.reading() as s:
            visit = self._visible(s, inspection_id, caller)
            visit_id, token, colour = visit.id, self._token(visit), domain.entry_code(visit.status)
        url = self._verify_url(token)
        image = codes.render(url, colour, fmt)
        return {"inspection_id": visit_id, "entry_code": colour, "format": fmt,
                "content_type": "image/png" if fmt == "png" else "image/svg+xml",
                "content_base64": base64.b64encode(image).decode("ascii"),
                "token": token, "verify_url": url}

    @rpc
    def verify_code(self, token):
        """Public: what scanning the code shows. No caller needed."""
        with self.db.reading() as s:
            return self._verification(s, token)

    def _verification(self, s, token):
        claims = codes.verify(self.rules.code_key, token)
        visit = s.get(Visit, claims.visit_id) if claims else None
        if visit is None or visit.enterprise_code != claims.enterprise_code \
                or visit.planned_date != claims.planned_date:
            return {"valid": False}
        names = self.rules.profile.departments
        departments = self._departments(s, visit.id)
        inspectors = s.execute(select(VisitInspector).where(VisitInspector.visit_id == visit.id)
                               .order_by(VisitInspector.inspector_code)).scalars().all()
        return {
            "valid": True, "inspection_id": visit.id, "entry_code": domain.entry_code(visit.status),
            "status": visit.status, "status_zh": domain.STATUSES_ZH[visit.status],
            "kind": visit.kind, "kind_zh": domain.KINDS_ZH[visit.kind],
            "enterprise_code": visit.enterprise_code, "enterprise_name": visit.enterprise_name,
            "department": visit.department,
            "department_name": names.get(visit.department, {}).get("name", visit.department),
            "departments": [names.get(d, {}).get("name", d) for d in departments],
            "planned_date": visit.planned_date.isoformat(),
            "inspectors": [{"name": p.name, "certificate_no": p.certificate_no,
                            "department": names.get(p.department, {}).get("name", p.department)}
                           for p in inspectors],
            "merged_into": visit.merged_into,
        }
