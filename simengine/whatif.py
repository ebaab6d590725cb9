"""Live what-if: faults and traffic spikes injected into a run while it goes.

An injection is a small mapping, validated against the running document like a
document's ``faults`` entry:

    {"action": "fault",   "component": "web", "instance": 1, "for_s": 30}
    {"action": "fault",   "component": "db", "node": "primary"}      # until restored
    {"action": "restore", "component": "db", "node": "primary"}
    {"action": "spike",   "factor": 3, "for_s": 20}                 # rate x 3 for 20 s

``by`` (optional, at most 150 characters) says who injected it, for the event log.

A run asks its feed for injections at every snapshot boundary (``Feed``: called
with the replication and the boundary's simulated time) and applies what it gets
right there, before simulating on; each lands as an ``injected`` event carrying
the injection itself. A run is therefore reproducible from its document, its seed
and its injected events: :func:`replay_feed` hands every injection back at the
replication and boundary where it landed, and the report comes out the same, byte
for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from .document import Document
from .document.checks.faults import FAULT_CHECKS
from .document.fields import Name, NonNegInt, PosFloat, _Model
from .document.messages import convert_errors
from .document.models import Fault
from .errors import DocumentError, FieldError

#: The most a spike may multiply the arrival rate by.
MAX_SPIKE_FACTOR = 100.0

#: (replication, simulated time of the boundary) -> the injections to apply there.
Feed = Callable[[int, float], Iterable["Injection | Mapping[str, Any]"]]


class Injection(_Model):
    """One what-if action (see the module's docstring)."""

    action: Literal["fault", "restore", "spike"] = Field(
        description="fault: take a component (or one instance or node) down; "
        "restore: bring it back; spike: multiply the arrival rate"
    )
    component: Name | None = Field(None, description="fault and restore: its id")
    instance: NonNegInt | None = Field(
        None, description="service or balancer instance; omitted: all of them"
    )
    node: Annotated[str, Field(strict=True, max_length=64)] | NonNegInt | None = Field(
        None, description="database: primary | replica-N | shard-N; cache: node index"
    )
    for_s: PosFloat | None = Field(
        None,
        description="how long it lasts, simulated s; omitted: until restored "
        "(a spike must say)",
    )
    factor: PosFloat | None = Field(
        None, description=f"spike: the rate multiplier (up to {MAX_SPIKE_FACTOR:g})"
    )
    by: Annotated[str, Field(strict=True, max_length=150)] | None = Field(
        None, description="who injected it, for the event log"
    )

    def as_fault(self, at_s: float) -> Fault:
        return Fault(
            at_s=at_s,
            component=self.component or "",
            instance=self.instance,
            node=self.node,
            for_s=self.for_s if self.action == "fault" else None,
        )

    def event_text(self) -> str:
        """The injection as its event says it (the event carries the component):
        "injected: instance 1 down for 30 s (by alice)"."""
        lasting = f" for {self.for_s:g} s" if self.for_s is not None else ""
        by = f" (by {self.by})" if self.by else ""
        if self.action == "spike":
            return f"injected: traffic x{self.factor:g}{lasting}{by}"
        if self.instance is not None:
            what = f"instance {self.instance}"
        elif self.node is not None:
            what = f"node {self.node}"
        else:
            what = "every instance" if self.component else "it"
        if self.action == "restore":
            return f"injected: {what} restored{by}"
        return f"injected: {what} down{lasting or ' until restored'}{by}"

    def describe(self) -> str:
        """The injection in words: "kill web instance 1 for 30 s"."""
        lasting = f" for {self.for_s:g} s" if self.for_s is not None else ""
        if self.action == "spike":
            return f"traffic spike x{self.factor:g}{lasting}"
        target = self.component or ""
        if self.instance is not None:
            target += f" instance {self.instance}"
        elif self.node is not None:
            target += f" node {self.node}"
        if self.action == "restore":
            return f"restore {target}"
        return f"fault: {target} down" + (lasting or " until restored")


def injection_parse(doc: Document, raw: Any, *, path: str = "injection") -> Injection:
    """Validate one injection against ``doc``; raises :class:`DocumentError` whose
    errors name the field (``injection.component: ...``)."""
    if isinstance(raw, Injection):
        raw = raw.model_dump(exclude_none=True)
    try:
        inj = Injection.model_validate(raw)
    except ValidationError as exc:
        raise DocumentError(
            [FieldError(_under(path, e.path), e.message) for e in convert_errors(exc)]
        ) from None
    errors: list[FieldError] = []
    if inj.action == "spike":
        if inj.factor is None:
            errors.append(FieldError(f"{path}.factor", "a spike needs a factor"))
        elif inj.factor > MAX_SPIKE_FACTOR:
            errors.append(
                FieldError(
                    f"{path}.factor",
                    f"must be at most {MAX_SPIKE_FACTOR:g} (got {inj.factor:g})",
                )
            )
        if inj.for_s is None:
            errors.append(FieldError(f"{path}.for_s", "a spike needs a duration"))
        for name in ("component", "instance", "node"):
            if getattr(inj, name) is not None:
                errors.append(FieldError(f"{path}.{name}", "a spike takes no target"))
        if doc.workload.users is not None:
            errors.append(
                FieldError(
                    f"{path}.action",
                    "a spike multiplies an open workload's arrival rate: a closed "
                    "workload (workload.users) has none (change users with phases)",
                )
            )
    else:
        if inj.factor is not None:
            errors.append(FieldError(f"{path}.factor", "only a spike takes a factor"))
        if inj.action == "restore" and inj.for_s is not None:
            errors.append(FieldError(f"{path}.for_s", "a restore takes no duration"))
        comp = doc.components.get(inj.component) if inj.component else None
        if inj.component is None:
            errors.append(FieldError(f"{path}.component", "field required"))
        elif comp is None:
            known = ", ".join(
                c for c, s in doc.components.items() if s.type in FAULT_CHECKS
            )
            errors.append(
                FieldError(
                    f"{path}.component",
                    f"no component {inj.component!r} in the document (faults "
                    f"apply to: {known})",
                )
            )
        elif comp.type not in FAULT_CHECKS:
            errors.append(
                FieldError(
                    f"{path}.component",
                    f"a {comp.type} cannot fail; faults apply to: "
                    + ", ".join(sorted(FAULT_CHECKS)),
                )
            )
        else:
            errors += FAULT_CHECKS[comp.type](inj.as_fault(0.0), comp, path)
    if errors:
        raise DocumentError(errors)
    return inj


def _under(path: str, sub: str) -> str:
    return path if sub in ("", "(document)") else f"{path}.{sub}"


class _Replay:
    """The injections of an event log, by (replication, boundary); a class, not a
    closure, so that ``--jobs`` can send it to other processes."""

    def __init__(self, event_log: Iterable[Mapping[str, Any]]) -> None:
        self.due: dict[tuple[int, float], list[dict[str, Any]]] = {}
        for event in event_log:
            injection = event.get("injection")
            if event.get("kind") == "injected" and isinstance(injection, Mapping):
                key = (int(event["replication"]), float(event["t_s"]))
                self.due.setdefault(key, []).append(dict(injection))

    def __call__(self, replication: int, t_s: float) -> list[dict[str, Any]]:
        return self.due.get((replication, t_s), [])


def replay_feed(event_log: Iterable[Mapping[str, Any]]) -> Feed:
    """A feed that hands back the injections of ``event_log`` (a report's, or the
    events of the snapshots a run streamed) where they landed."""
    return _Replay(event_log)


def injected_events(event_log: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``injected`` events of an event log, as :func:`replay_feed` reads them."""
    return [dict(e) for e in event_log if e.get("kind") == "injected"]
