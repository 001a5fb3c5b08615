"""An appeal from filing to closing, driven only by the Python client that
openapi-python-client generated from the gateway's live /openapi.json — what a
department's integrator would write. Run in a clean interpreter by
tests/integration/test_gateway_client.py:

    python client_walk.py <base url> <enterprise token> <department API key>

with the generated package ``qinqing_client`` on PYTHONPATH; prints what it
saw as one JSON object.
"""
import json
import sys

from qinqing_client.api.appeals import (act_accept, act_feedback, act_reply, create_appeal,
                                        get_appeal)
from qinqing_client.api.reference import reference
from qinqing_client.client import AuthenticatedClient
from qinqing_client.models import (Appeal, AppealCreate, ContentBody, FeedbackBody, NoteBody,
                                   Problem)


def main(base_url, enterprise_token, department_key):
    enterprise = AuthenticatedClient(base_url=base_url, token=enterprise_token)  # a bearer token
    department = AuthenticatedClient(base_url=base_url, token=department_key, prefix="",
                                     auth_header_name="X-API-Key")  # its system's API key
    seen = {"categories": [c.code for c in reference.sync(client=enterprise).categories]}

    # from_dict, as an integrator reading JSON would: the channel is an enum in the model
    body = AppealCreate.from_dict({"channel": "mini_program", "category": "permit",
                                   "town": "hongshi", "title": "营业执照变更迟迟未办",
                                   "content": "提交材料已两周, 仍未办结", "contact_name": "张明",
                                   "contact_phone": "13912340001"})
    filed = create_appeal.sync_detailed(client=enterprise, body=body, idempotency_key="walk-1")
    again = create_appeal.sync(client=enterprise, body=body, idempotency_key="walk-1")
    appeal = filed.parsed
    assert isinstance(appeal, Appeal), filed.content
    seen.update(filed=filed.status_code, id=appeal.id, same_again=again.id == appeal.id,
                statuses=[appeal.status], lead=appeal.lead_department)

    refused = act_feedback.sync(appeal.id, client=enterprise, body=FeedbackBody(rating=5))
    seen["early_feedback"] = (refused.status, refused.title) if isinstance(refused, Problem) else None

    for client, step, payload in (
            (department, act_accept, NoteBody(note="已签收")),
            (department, act_reply, ContentBody(content="已办结, 新执照已寄出")),
            (enterprise, act_feedback, FeedbackBody(rating=5, comment="满意"))):
        answer = step.sync(appeal.id, client=client, body=payload)
        assert isinstance(answer, Appeal), answer
        seen["statuses"].append(answer.status)

    final = get_appeal.sync(appeal.id, client=enterprise)
    seen.update(final=final.status, rating=final.rating,
                history=[h.action for h in final.history])
    print(json.dumps(seen, ensure_ascii=False))


if __name__ == "__main__":
    main(*sys.argv[1:4])
