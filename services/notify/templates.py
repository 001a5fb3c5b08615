"""Templates (NOT-3): one per event and channel, Chinese text with variables.

Rendered by Jinja2's ``SandboxedEnvironment`` (a template cannot reach into
Python) with ``StrictUndefined`` (a missing variable is an error, never an
empty blank in an SMS). ``Templates.load`` renders every template with its
sample, so a broken one stops the service at start.
"""
from pathlib import Path

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

DEFAULT_PATH = Path(__file__).parent / "templates.yaml"
CHANNEL_KEYS = ("sms", "wechat", "email", "inbox")


class TemplateProblem(ValueError):
    pass


class Templates:
    def __init__(self, spec):
        self.env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        self._compiled = {}
        problems = []
        for event, entry in spec.items():
            sample = entry.get("sample") or {}
            if "title" not in entry:
                problems.append(f"{event}: no title")
            for key in ("title",) + CHANNEL_KEYS:
                if key not in entry:
                    continue
                try:
                    template = self.env.from_string(entry[key])
                    template.render(sample)
                except TemplateError as exc:
                    problems.append(f"{event}.{key}: {exc}")
                    continue
                self._compiled[(event, key)] = template
        if problems:
            raise TemplateProblem("templates refused: " + "; ".join(problems))

    @classmethod
    def load(cls, path=None):
        return cls(yaml.safe_load(Path(path or DEFAULT_PATH).read_text(encoding="utf-8")))

    def has(self, event, channel):
        return (event, channel) in self._compiled

    def render(self, event, channel, context):
        """``(title, body)`` of one event on one channel."""
        try:
            title = self._compiled[(event, "title")].render(context)
            body = self._compiled[(event, channel)].render(context)
        except KeyError:
            raise TemplateProblem(f"no template for {event} on {channel}") from None
        return title, body
