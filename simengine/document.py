"""The topology document, format 1: frozen pydantic models, parsing and validation.

``parse_document`` is the only way in: it checks size and nesting depth before any
parser runs, parses YAML or JSON, validates every field (unknown fields are errors),
then checks references, cycles and limits. Every failure is a ``DocumentError`` whose
``errors`` name the field path, e.g. ``components.web.instances: must be >= 1 (got 0)``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
)

from .errors import DocumentError, FieldError
from .limits import Limits

FORMAT_VERSION = 1


def _yaml() -> tuple[Any, Any]:
    """PyYAML and its safe loader, imported on the first YAML text (JSON input, the
    usual case for programs, never pays for the import). The loader is libyaml's
    when PyYAML was built with it (several times faster), else the pure-Python one;
    both construct only plain types."""
    import yaml

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader)


ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

# Numbers are strict: "5" and true are errors, not 5 and 1 (a typo must never be
# silently coerced). NaN and infinities are refused everywhere.
NonNegFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Ratio = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
PosInt = Annotated[int, Field(strict=True, ge=1)]
NonNegInt = Annotated[int, Field(strict=True, ge=0)]
StrictBool = Annotated[bool, Field(strict=True)]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- durations --------------------------------------------------------------------


class Distribution(_Model):
    """A random duration in milliseconds. ``{mean: 8}`` alone is exponential."""

    dist: Literal["exponential", "constant", "lognormal", "uniform"] = Field(
        "exponential", description="exponential | constant | lognormal | uniform"
    )
    mean: NonNegFloat = Field(description="mean, milliseconds")
    cv: NonNegFloat = Field(
        1.0, description="coefficient of variation (lognormal only)"
    )


def _duration_tag(value: Any) -> str:
    if isinstance(value, Distribution):
        return "~distribution"
    if isinstance(value, bool):
        return "~number"  # refused by the strict float with a clear message
    if isinstance(value, (int, float)):
        return "~number"
    return "~distribution"


#: A duration field (``*_ms``): a plain number (constant) or a distribution mapping.
Duration = Annotated[
    Annotated[NonNegFloat, Tag("~number")]
    | Annotated[Distribution, Tag("~distribution")],
    Discriminator(_duration_tag),
]


def as_distribution(value: float | Distribution) -> Distribution:
    """The distribution a duration field stands for (a number is a constant)."""
    if isinstance(value, Distribution):
        return value
    return Distribution(dist="constant", mean=float(value))


class ReadWriteWork(_Model):
    """Different work for reads and writes."""

    read: Duration = Field(description="work of a read, ms")
    write: Duration = Field(description="work of a write, ms")


def _work_tag(value: Any) -> str:
    if isinstance(value, ReadWriteWork) or (
        isinstance(value, Mapping) and ("read" in value or "write" in value)
    ):
        return "~read_write"
    return _duration_tag(value)


Work = Annotated[
    Annotated[NonNegFloat, Tag("~number")]
    | Annotated[Distribution, Tag("~distribution")]
    | Annotated[ReadWriteWork, Tag("~read_write")],
    Discriminator(_work_tag),
]

# --- simulation, workload, network --------------------------------------------------


class Simulation(_Model):
    duration_s: PosFloat = Field(60.0, description="measured simulated time, seconds")
    warmup_s: NonNegFloat = Field(
        0.0, description="simulated seconds before measuring starts"
    )
    seed: Annotated[int, Field(strict=True, ge=0, lt=2**63)] = Field(
        0, description="same document + same seed = identical report"
    )
    replications: PosInt = Field(1, description="independent runs; > 1 adds ci95")
    snapshot_s: PosFloat = Field(1.0, description="simulated seconds per snapshot")


class Phase(_Model):
    at_s: NonNegFloat = Field(description="simulated time the rate changes, seconds")
    rps: NonNegFloat = Field(description="mean arrival rate from at_s on")


class Bursty(_Model):
    on_s: PosFloat = Field(5.0, description="length of a burst, seconds")
    off_s: PosFloat = Field(15.0, description="time between bursts, seconds")
    factor: Annotated[float, Field(strict=True, ge=1, allow_inf_nan=False)] = Field(
        3.0, description="rate during a burst, as a multiple of rps"
    )


class Keys(_Model):
    count: PosInt = Field(1_000_000, description="distinct keys")
    zipf_s: Annotated[float, Field(strict=True, ge=0, le=10, allow_inf_nan=False)] = (
        Field(0.0, description="Zipf exponent; 0 is uniform")
    )
    shuffle: StrictBool = Field(False, description="spread popularity over key numbers")


class Workload(_Model):
    target: Name = Field(description="component the clients call")
    rps: NonNegFloat = Field(description="mean arrival rate, requests per second")
    arrivals: Literal["poisson", "constant", "bursty"] = "poisson"
    bursty: Bursty | None = Field(None, description="on/off parameters (bursty)")
    phases: tuple[Phase, ...] = Field((), description="rate changes over time")
    read_ratio: Ratio = Field(0.9, description="share of requests that are reads")
    keys: Keys | None = Field(None, description="key popularity (default uniform)")
    clients: PosInt = Field(10_000, description="distinct clients")
    regions: dict[Name, Annotated[float, Field(strict=True, gt=0, le=1)]] | None = (
        Field(None, description="share of clients per region")
    )
    timeout_ms: PosFloat | None = Field(
        None, description="a client gives up after this (default: never)"
    )
    scatter_ratio: Ratio = Field(
        0.0, description="share of reads that need every shard (part 2)"
    )


class Network(_Model):
    hop_ms: NonNegFloat = Field(0.0, description="latency added to every call, ms")
    cross_region_ms: NonNegFloat = Field(
        70.0, description="added to a call between two regions, ms"
    )


# --- components ----------------------------------------------------------------------


class _Component(_Model):
    region: Name | None = Field(None, description="region (cross-region latency)")
    cost_per_hour: NonNegFloat | None = Field(
        None, description="price per instance or node per hour"
    )


class HealthCheck(_Model):
    interval_s: PosFloat = Field(2.0, description="seconds between probes")
    timeout_ms: PosFloat = Field(500.0, description="a probe fails after this, ms")
    unhealthy_after: PosInt = Field(2, description="failed probes to mark unhealthy")
    healthy_after: PosInt = Field(2, description="passed probes to mark healthy")


LB_ALGORITHMS = (
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "ip_hash",
    "least_response_time",
    "random",
    "power_of_two",
)


class LoadBalancer(_Component):
    type: Literal["load_balancer"]
    algorithm: Literal[
        "round_robin",
        "weighted_round_robin",
        "least_connections",
        "ip_hash",
        "least_response_time",
        "random",
        "power_of_two",
    ] = "round_robin"
    layer: Literal[4, 7] = Field(7, description="4 or 7; layer 7 adds overhead_ms")
    overhead_ms: NonNegFloat = Field(0.2, description="layer-7 cost per request, ms")
    targets: tuple[Name, ...] = Field(min_length=1, description="services behind it")
    weights: dict[Name, PosFloat] | None = Field(
        None, description="weighted_round_robin weight per target service"
    )
    health_check: HealthCheck | None = None
    retries: Annotated[int, Field(strict=True, ge=0, le=10)] = Field(
        0, description="retries elsewhere after a dead instance"
    )
    instances: PosInt = Field(1, description="balancer instances")


class Scaling(_Model):
    contention: Ratio = Field(0.0, description="USL alpha (serialisation)")
    coherency: Ratio = Field(0.0, description="USL beta (crosstalk)")


class Autoscale(_Model):
    min: PosInt = 1
    max: PosInt = 10
    target_utilization: Annotated[
        float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)
    ] = 0.7
    check_s: PosFloat = 10.0
    boot_s: NonNegFloat = 30.0
    cooldown_s: NonNegFloat = 60.0


class Service(_Component):
    type: Literal["service"]
    instances: PosInt = Field(1, description="horizontal scaling")
    cores: PosInt = Field(1, description="cores per instance")
    speed: PosFloat = Field(1.0, description="per-core speed factor")
    scaling: Scaling | None = Field(None, description="Universal Scalability Law")
    work_ms: Work = Field(
        default_factory=lambda: Distribution(dist="exponential", mean=10.0),
        description="CPU work per request, ms (or {read, write})",
    )
    queue_limit: NonNegInt | None = Field(
        None, description="waiting requests per instance beyond which one is rejected"
    )
    calls: tuple[Name, ...] = Field((), description="dependencies, called in order")
    stateful: StrictBool = Field(False, description="sessions live on the instance")
    autoscale: Autoscale | None = None


class Cache(_Component):
    type: Literal["cache"]
    strategy: Literal[
        "cache_aside", "read_through", "write_through", "write_behind"
    ] = Field("cache_aside", description="how reads and writes use the cache")
    capacity_keys: PosInt = Field(100_000, description="keys the cache holds")
    eviction: Literal["lru", "lfu", "fifo", "random"] = Field(
        "lru", description="which key leaves when full"
    )
    ttl_s: PosFloat | None = Field(
        None, description="seconds from write to expiry (default: no expiry)"
    )
    invalidation: Literal["on_write", "ttl_only"] = Field(
        "on_write", description="a write invalidates the key, or only TTL does"
    )
    hit_ms: Duration = Field(0.3, description="time of a hit, ms")
    backing: Name = Field(description="database, service or balancer behind it")
    coalesce_misses: StrictBool = Field(
        False, description="concurrent misses on one key make one backing read"
    )
    nodes: PosInt = Field(1, description="nodes, keys spread by consistent hashing")
    flush_interval_s: PosFloat = Field(
        1.0, description="write_behind: seconds between flushes"
    )


class Primary(_Model):
    cores: PosInt = Field(8, description="cores of the primary")
    read_ms: Duration = Field(
        default_factory=lambda: Distribution(dist="exponential", mean=2.0),
        description="work of a read, ms",
    )
    write_ms: Duration = Field(
        default_factory=lambda: Distribution(dist="exponential", mean=8.0),
        description="work of a write, ms",
    )
    connections: PosInt = Field(
        100, description="queries in the database at once; more are refused"
    )


class Replicas(_Model):
    count: NonNegInt = Field(0, description="read replicas")
    mode: Literal["async", "semi_sync", "sync"] = Field(
        "async", description="what a write waits for"
    )
    lag_ms: Duration = Field(
        default_factory=lambda: Distribution(dist="exponential", mean=40.0),
        description="replication lag, ms",
    )
    reads: Literal["replicas", "primary", "read_your_writes"] = Field(
        "replicas", description="where reads go"
    )


class Rebalance(_Model):
    at_s: NonNegFloat
    add: PosInt = 1


class Shards(_Model):
    count: PosInt = Field(1, description="shards, each a primary (+ replicas)")
    strategy: Literal["range", "hash", "consistent_hash", "geo", "directory"] = Field(
        "hash", description="how keys map to shards"
    )
    ranges: tuple[NonNegInt, ...] | None = Field(
        None, description="range: upper key bounds (default: equal splits)"
    )
    directory_ms: NonNegFloat = Field(1.0, description="directory: lookup cost, ms")
    rebalance: Rebalance | None = Field(None, description="add shards mid-run")


class Failover(_Model):
    detect_s: NonNegFloat = 10.0
    promote_s: NonNegFloat = 15.0


class Database(_Component):
    type: Literal["database"]
    primary: Primary = Field(default_factory=Primary)
    replicas: Replicas | None = None
    primaries: PosInt = Field(1, description="> 1: multi-primary")
    sync_ms: NonNegFloat = Field(30.0, description="multi-primary: conflict window, ms")
    shards: Shards | None = None
    failover: Failover | None = None


COMPONENT_TYPES = ("load_balancer", "service", "cache", "database")


def _component_tag(value: Any) -> str | None:
    kind = (
        value.get("type")
        if isinstance(value, Mapping)
        else getattr(value, "type", None)
    )
    if isinstance(kind, str) and kind in COMPONENT_TYPES:
        return "~" + kind
    return None


Component = Annotated[
    Annotated[LoadBalancer, Tag("~load_balancer")]
    | Annotated[Service, Tag("~service")]
    | Annotated[Cache, Tag("~cache")]
    | Annotated[Database, Tag("~database")],
    Discriminator(
        _component_tag,
        custom_error_type="component_type",
        custom_error_message="type must be one of: " + ", ".join(COMPONENT_TYPES),
    ),
]


class Fault(_Model):
    at_s: NonNegFloat = Field(description="simulated time the fault starts, seconds")
    component: Name
    instance: NonNegInt | None = Field(
        None, description="instance index (service or balancer); omitted: all"
    )
    node: Annotated[str, Field(strict=True, max_length=64)] | NonNegInt | None = Field(
        None, description="database: primary | replica-N | shard-N; cache: node index"
    )
    for_s: PosFloat | None = Field(None, description="omitted: never recovers")


class LatencyObjectives(_Model):
    """Upper bounds on the end-to-end latency of completed requests, ms."""

    mean: PosFloat | None = Field(None, description="mean at most this, ms")
    p50: PosFloat | None = Field(None, description="median at most this, ms")
    p90: PosFloat | None = Field(None, description="90th percentile at most this, ms")
    p95: PosFloat | None = Field(None, description="95th percentile at most this, ms")
    p99: PosFloat | None = Field(None, description="99th percentile at most this, ms")
    max: PosFloat | None = Field(None, description="slowest request at most this, ms")


class Objectives(_Model):
    """What "good enough" means for this design. The report says which hold, and
    ``python -m simengine run`` exits with status 3 when one does not."""

    latency_ms: LatencyObjectives | None = Field(
        None, description="upper bounds on end-to-end latency, ms"
    )
    error_rate: Ratio | None = Field(
        None,
        description="at most this share of offered requests fails "
        "(errors + timeouts + rejected)",
    )
    throughput_rps: NonNegFloat | None = Field(
        None, description="at least this many completed requests per second"
    )
    utilization: Ratio | None = Field(
        None, description="every component at most this busy (0..1)"
    )


class Document(_Model):
    """A validated topology document (format 1)."""

    scaleboard: Literal[1] = Field(description="format version")
    name: Annotated[str, Field(strict=True, max_length=200)] = ""
    description: Annotated[str, Field(strict=True, max_length=5000)] = ""
    simulation: Simulation = Field(default_factory=Simulation)
    workload: Workload
    network: Network = Field(default_factory=Network)
    components: dict[str, Component] = Field(min_length=1)
    faults: tuple[Fault, ...] = ()
    objectives: Objectives | None = Field(
        None, description="optional service-level objectives the run is judged by"
    )
    # The limits it was parsed with when not the defaults: runs enforce the same
    # event budget (``Limits.max_events``) unless given other limits.
    _limits: Limits | None = PrivateAttr(default=None)

    @property
    def limits(self) -> Limits:
        """The limits this document was checked against."""
        return self._limits or Limits()


# --- parsing ----------------------------------------------------------------------------


def document_schema() -> dict:
    """The JSON Schema of format 1."""
    schema = Document.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Scaleboard topology document, format 1"
    schema["properties"]["components"]["propertyNames"] = {"pattern": ID_RE.pattern}
    return schema


def parse_document(
    source: str | bytes | Mapping[str, Any], *, limits: Limits | None = None
) -> Document:
    """Parse and validate a document (YAML or JSON text, or a parsed mapping).

    Raises ``DocumentError`` (and nothing else) for any document that cannot be run.
    """
    return _only_document_errors(_parse, source, limits or Limits())


def load_document_tree(
    source: str | bytes | Mapping[str, Any], *, limits: Limits | None = None
) -> Mapping[str, Any]:
    """Read a document's tree safely, without validating its fields.

    The first half of :func:`parse_document`: size, encoding, nesting depth and node
    count are checked before and while parsing, and the top must be a mapping. For
    callers that need the raw tree even when its fields are wrong (the designer draws
    it). Raises ``DocumentError`` on "(document)" for anything it cannot read.
    """
    return _only_document_errors(_load_tree, source, limits or Limits())


def _only_document_errors(step: Any, source: Any, limits: Limits) -> Any:
    """Run a parsing step so that nothing but ``DocumentError`` escapes it."""
    try:
        return step(source, limits)
    except DocumentError:
        raise
    except RecursionError:
        raise DocumentError.single(
            "(document)", f"nested too deeply (limit {limits.max_depth} levels)"
        ) from None
    except Exception as exc:  # a safety net: a bad document must never crash a caller
        raise DocumentError.single(
            "(document)", f"could not be read ({type(exc).__name__}: {exc})"
        ) from None


def _parse(source: Any, limits: Limits) -> Document:
    data = _load_tree(source, limits)
    _check_precounts(data, limits)
    try:
        doc = Document.model_validate(dict(data))
    except ValidationError as exc:
        raise DocumentError(_convert_errors(exc)) from None
    errors = check_document(doc, limits)
    if errors:
        raise DocumentError(errors)
    if limits != Limits():
        doc._limits = limits
    return doc


def _load_tree(source: Any, limits: Limits) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        _check_tree(source, limits)
        data = source
    elif isinstance(source, (str, bytes, bytearray)):
        if isinstance(source, str):
            size = len(source.encode("utf-8", "surrogatepass"))
        else:
            size = len(source)
        if size > limits.max_bytes:
            raise DocumentError.single(
                "(document)",
                f"is {size} bytes, over the limit of {limits.max_bytes} bytes "
                "(Limits.max_bytes)",
            )
        if isinstance(source, (bytes, bytearray)):
            try:
                text = bytes(source).decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise DocumentError.single(
                    "(document)", f"is not valid UTF-8 ({exc.reason})"
                ) from None
        else:
            text = source
        data = _load_text(text, limits)
        _check_tree(data, limits)
    else:
        raise DocumentError.single(
            "(document)",
            f"must be YAML or JSON text or a mapping (got {type(source).__name__})",
        )
    if not isinstance(data, Mapping):
        raise DocumentError.single(
            "(document)", f"must be a mapping at the top (got {_type_name(data)})"
        )
    return data


def _load_text(text: str, limits: Limits) -> Any:
    stripped = text.lstrip()
    if not stripped:
        raise DocumentError.single("(document)", "is empty")
    if stripped[0] in "{[":
        depth = json_depth(stripped)
        if depth > limits.max_depth:
            raise _depth_error(limits)
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            if stripped[0] == "[":
                raise DocumentError.single(
                    "(document)", f"is not valid JSON: {exc.msg} (line {exc.lineno})"
                ) from None
            # flow-style YAML also starts with "{": fall through to YAML
        except ValueError as exc:
            raise DocumentError.single(
                "(document)", f"is not valid JSON: {exc}"
            ) from None
    yaml, loader = _yaml()
    _check_yaml_events(text, limits)
    try:
        return yaml.load(text, Loader=loader)  # a safe loader: plain types only
    except yaml.YAMLError as exc:
        raise DocumentError.single(
            "(document)", "is not valid YAML or JSON: " + _yaml_msg(exc)
        ) from None


def _yaml_msg(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(problem)


def json_depth(text: str) -> int:
    """Deepest [ / { nesting of JSON text, outside strings, without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}":
            depth -= 1
    return deepest


def _check_yaml_events(text: str, limits: Limits) -> None:
    """Walk the YAML event stream (the parser does not recurse) to cap depth and
    node count before the composer (which does recurse) builds the tree."""
    yaml, loader = _yaml()
    depth = 0
    events = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            events += 1
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > limits.max_depth:
                    raise _depth_error(limits)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            if events > 2 * limits.max_nodes + 10:
                raise _nodes_error(limits)
    except yaml.YAMLError as exc:
        raise DocumentError.single(
            "(document)", "is not valid YAML or JSON: " + _yaml_msg(exc)
        ) from None


def _depth_error(limits: Limits) -> DocumentError:
    return DocumentError.single(
        "(document)",
        f"is nested more than {limits.max_depth} levels deep (Limits.max_depth)",
    )


def _nodes_error(limits: Limits) -> DocumentError:
    return DocumentError.single(
        "(document)",
        f"has more than {limits.max_nodes} values (Limits.max_nodes)",
    )


def _check_tree(data: Any, limits: Limits) -> None:
    """Iteratively bound depth and node count of a parsed tree (aliases expanded)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise _nodes_error(limits)
        if isinstance(node, Mapping):
            if depth > limits.max_depth:
                raise _depth_error(limits)
            for key, value in node.items():
                if not isinstance(key, str):
                    raise DocumentError.single(
                        "(document)",
                        f"keys must be strings (got {_type_name(key)} {key!r:.40})",
                    )
                stack.append((value, depth + 1))
        elif isinstance(node, (list, tuple)):
            if depth > limits.max_depth:
                raise _depth_error(limits)
            stack.extend((value, depth + 1) for value in node)


def _check_precounts(data: Mapping, limits: Limits) -> None:
    components = data.get("components")
    if isinstance(components, Mapping) and len(components) > limits.max_components:
        raise DocumentError.single(
            "components",
            f"has {len(components)} components, over the limit of "
            f"{limits.max_components} (Limits.max_components)",
        )
    for section, where in (("faults", data), ("phases", data.get("workload"))):
        if isinstance(where, Mapping):
            items = where.get(section)
            if isinstance(items, list) and len(items) > limits.max_list_items:
                path = section if section == "faults" else "workload.phases"
                raise DocumentError.single(
                    path,
                    f"has {len(items)} entries, over the limit of "
                    f"{limits.max_list_items} (Limits.max_list_items)",
                )


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("~"):
            continue  # a union tag, not a field
        elif part == "[key]":
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


# pydantic's error kinds in the document's words; {got} shows the offending value and
# the other fields come from the error's context.
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "greater_than_equal": "must be >= {ge}{got}",
    "greater_than": "must be > {gt}{got}",
    "less_than_equal": "must be <= {le}{got}",
    "less_than": "must be < {lt}{got}",
    "finite_number": "must be a finite number{got}",
    "float_type": "must be a number{got}",
    "float_parsing": "must be a number{got}",
    "int_type": "must be an integer{got}",
    "int_parsing": "must be an integer{got}",
    "int_from_float": "must be an integer{got}",
    "bool_type": "must be true or false{got}",
    "bool_parsing": "must be true or false{got}",
    "string_type": "must be a string{got}",
    "dict_type": "must be a mapping{got}",
    "model_type": "must be a mapping{got}",
    "model_attributes_type": "must be a mapping{got}",
    "list_type": "must be a list{got}",
    "tuple_type": "must be a list{got}",
    "literal_error": "must be one of: {expected}{got}",
    "too_short": "must have at least {min_length} entries",
    "too_long": "must have at most {max_length} entries",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must not be empty",
}


def _convert_errors(exc: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        kind = err["type"]
        ctx = err.get("ctx") or {}
        value = err.get("input")
        got = f" (got {_show(value)})" if kind != "missing" else ""
        loc = tuple(err["loc"])
        if kind == "component_type":
            msg = "type must be one of: " + ", ".join(COMPONENT_TYPES)
            if isinstance(value, Mapping) and "type" in value:
                msg += f" (got {_show(value['type'])})"
            loc = (*loc, "type")
        elif kind in _MESSAGES:
            bounds = {
                k: _num(v) for k, v in ctx.items() if k in ("ge", "gt", "le", "lt")
            }
            msg = _MESSAGES[kind].format(got=got, **{**ctx, **bounds})
        else:
            msg = err["msg"][0].lower() + err["msg"][1:]
        path = _format_path(loc)
        if (path, msg) not in seen:
            seen.add((path, msg))
            errors.append(FieldError(path, msg))
    return errors


# --- semantic checks --------------------------------------------------------------


def check_document(doc: Document, limits: Limits) -> list[FieldError]:
    """References, cycles, cross-field rules and limits of a structurally valid doc."""
    errors: list[FieldError] = []
    comps = doc.components

    def err(path: str, message: str) -> None:
        errors.append(FieldError(path, message))

    for cid in comps:
        if not ID_RE.match(cid):
            err(
                f"components.{cid}",
                "id must match [a-z][a-z0-9_-]* (at most 64 characters)",
            )

    wl = doc.workload
    if wl.target not in comps:
        err("workload.target", f"no component named {wl.target!r}")
    if wl.arrivals != "bursty" and wl.bursty is not None:
        err("workload.bursty", "only allowed with arrivals: bursty")
    if wl.arrivals == "bursty":
        b = wl.bursty or Bursty()
        if b.factor * b.on_s > b.on_s + b.off_s + 1e-9:
            err(
                "workload.bursty.factor",
                f"must be <= (on_s + off_s) / on_s = "
                f"{(b.on_s + b.off_s) / b.on_s:g} so the mean rate stays rps "
                f"(got {b.factor:g})",
            )
    last = -1.0
    for i, phase in enumerate(wl.phases):
        if phase.at_s <= last:
            err(f"workload.phases[{i}].at_s", "phases must be in increasing at_s order")
        last = phase.at_s
    if wl.regions is not None:
        total = sum(wl.regions.values())
        if abs(total - 1.0) > 1e-6:
            err("workload.regions", f"shares must add up to 1 (got {total:g})")
    if wl.keys is not None and wl.keys.count > limits.max_keys:
        err(
            "workload.keys.count",
            f"{wl.keys.count} keys is over the limit of {limits.max_keys} "
            "(Limits.max_keys)",
        )
    if wl.clients > limits.max_clients:
        err(
            "workload.clients",
            f"{wl.clients} clients is over the limit of {limits.max_clients} "
            "(Limits.max_clients)",
        )

    edges: dict[str, list[tuple[str, str]]] = {cid: [] for cid in comps}
    total_instances = 0
    for cid, comp in comps.items():
        base = f"components.{cid}"
        if isinstance(comp, LoadBalancer):
            total_instances += comp.instances
            for i, target in enumerate(comp.targets):
                path = f"{base}.targets[{i}]"
                if target not in comps:
                    err(path, f"no component named {target!r}")
                elif not isinstance(comps[target], Service):
                    err(
                        path,
                        f"{target!r} is a {comps[target].type}; "
                        "a balancer's targets must be services",
                    )
                else:
                    edges[cid].append((target, path))
            if len(set(comp.targets)) != len(comp.targets):
                err(f"{base}.targets", "lists a target more than once")
            for name in comp.weights or {}:
                if name not in comp.targets:
                    err(f"{base}.weights.{name}", f"{name!r} is not one of the targets")
        elif isinstance(comp, Service):
            top = max(comp.instances, comp.autoscale.max if comp.autoscale else 0)
            total_instances += top
            for i, callee in enumerate(comp.calls):
                path = f"{base}.calls[{i}]"
                if callee not in comps:
                    err(path, f"no component named {callee!r}")
                else:
                    edges[cid].append((callee, path))
            if comp.autoscale is not None:
                a = comp.autoscale
                if a.min > a.max:
                    err(
                        f"{base}.autoscale.min",
                        f"must be <= max ({a.max}) (got {a.min})",
                    )
                elif not a.min <= comp.instances <= a.max:
                    err(
                        f"{base}.instances",
                        f"must lie between autoscale min {a.min} and max {a.max} "
                        f"(got {comp.instances})",
                    )
        elif isinstance(comp, Cache):
            total_instances += comp.nodes
            if comp.backing not in comps:
                err(f"{base}.backing", f"no component named {comp.backing!r}")
            elif isinstance(comps[comp.backing], Cache):
                err(f"{base}.backing", "must be a database, service or load_balancer")
            else:
                edges[cid].append((comp.backing, f"{base}.backing"))
        elif isinstance(comp, Database):
            shards = comp.shards.count if comp.shards else 1
            replicas = comp.replicas.count if comp.replicas else 0
            total_instances += shards * (comp.primaries + replicas)
            if comp.shards is not None and comp.shards.ranges is not None:
                rng = comp.shards.ranges
                if len(rng) != comp.shards.count - 1:
                    err(
                        f"{base}.shards.ranges",
                        f"needs count - 1 = {comp.shards.count - 1} upper bounds "
                        f"(got {len(rng)})",
                    )
                if list(rng) != sorted(set(rng)):
                    err(f"{base}.shards.ranges", "bounds must be increasing")
    if total_instances > limits.max_instances:
        err(
            "components",
            f"{total_instances} instances in all is over the limit of "
            f"{limits.max_instances} (Limits.max_instances)",
        )

    cycle = _find_cycle(edges)
    if cycle is not None:
        names, path = cycle
        err(path, "calls form a cycle: " + " -> ".join(names))

    for i, fault in enumerate(doc.faults):
        base = f"faults[{i}]"
        comp = comps.get(fault.component)
        if comp is None:
            err(f"{base}.component", f"no component named {fault.component!r}")
            continue
        if isinstance(comp, (Service, LoadBalancer)):
            if fault.node is not None:
                err(f"{base}.node", f"not used for a {comp.type}; use instance")
            if fault.instance is not None:
                count = comp.instances
                if isinstance(comp, Service) and comp.autoscale:
                    count = comp.autoscale.max
                if fault.instance >= count:
                    err(
                        f"{base}.instance",
                        f"{fault.component!r} has instances 0..{count - 1} "
                        f"(got {fault.instance})",
                    )
        elif isinstance(comp, Database):
            if fault.instance is not None:
                err(f"{base}.instance", "not used for a database; use node")
            node = fault.node if fault.node is not None else "primary"
            if not _valid_db_node(node, comp):
                err(
                    f"{base}.node",
                    f"must be primary, replica-N or shard-N of {fault.component!r} "
                    f"(got {node!r})",
                )
        elif isinstance(comp, Cache):
            if fault.instance is not None:
                err(f"{base}.instance", "not used for a cache; use node")
            node = fault.node if fault.node is not None else 0
            if not isinstance(node, int) or node >= comp.nodes:
                err(
                    f"{base}.node",
                    f"must be a node index 0..{comp.nodes - 1} (got {node!r})",
                )

    sim = doc.simulation
    horizon = sim.warmup_s + sim.duration_s
    windows = math.ceil(sim.warmup_s / sim.snapshot_s) + math.ceil(
        sim.duration_s / sim.snapshot_s
    )
    if windows > limits.max_snapshots:
        err(
            "simulation.snapshot_s",
            f"{windows} snapshots per replication is over the limit of "
            f"{limits.max_snapshots} (Limits.max_snapshots): raise snapshot_s",
        )
    if sim.replications > limits.max_replications:
        err(
            "simulation.replications",
            f"must be <= {limits.max_replications} (Limits.max_replications) "
            f"(got {sim.replications})",
        )
    # independent of other errors: only workload and simulation matter
    requests = expected_requests(doc) * sim.replications
    if requests > limits.max_requests:
        err(
            "simulation.duration_s",
            f"the run would make about {requests:.3g} requests "
            f"(rps x {horizon:g} s x {sim.replications} replications), over the "
            f"limit of {limits.max_requests:.3g} (Limits.max_requests)",
        )
    else:
        events = requests * events_per_request(doc)
        if events > limits.max_events:
            err(
                "simulation.duration_s",
                f"the run would take about {events:.3g} events, over the limit "
                f"of {limits.max_events:.3g} (Limits.max_events)",
            )
    return errors


def _valid_db_node(node: Any, comp: Database) -> bool:
    if node == "primary":
        return True
    if not isinstance(node, str):
        return False
    m = re.fullmatch(r"(replica|shard)-(\d+)", node)
    if not m:
        return False
    index = int(m.group(2))
    if m.group(1) == "replica":
        return index < (comp.replicas.count if comp.replicas else 0)
    return index < (comp.shards.count if comp.shards else 1)


def _find_cycle(
    edges: dict[str, list[tuple[str, str]]],
) -> tuple[list[str], str] | None:
    """Iterative DFS; returns the cycle's names and the path of its closing edge."""
    state: dict[str, int] = {}
    for root in edges:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        trail: list[str] = [root]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            if i < len(edges[node]):
                stack[-1] = (node, i + 1)
                nxt, path = edges[node][i]
                if state.get(nxt) == 1:
                    start = trail.index(nxt)
                    return [*trail[start:], nxt], path
                if not state.get(nxt):
                    state[nxt] = 1
                    trail.append(nxt)
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                trail.pop()
                stack.pop()
    return None


def expected_requests(doc: Document) -> float:
    """Mean number of client requests of one replication (rate integrated over time)."""
    wl = doc.workload
    horizon = doc.simulation.warmup_s + doc.simulation.duration_s
    points = [(0.0, wl.rps)] + [(p.at_s, p.rps) for p in wl.phases]
    total = 0.0
    for i, (at, rate) in enumerate(points):
        end = points[i + 1][0] if i + 1 < len(points) else horizon
        end = min(end, horizon)
        if end > at:
            total += rate * (end - at)
    return total


def events_per_request(doc: Document) -> float:
    """A generous estimate of calendar events per client request (for the budget)."""
    comps = doc.components
    memo: dict[str, float] = {}

    def cost(cid: str, depth: int = 0) -> float:
        if cid in memo:
            return memo[cid]
        if depth > len(comps) + 1 or cid not in comps:
            return 1.0
        comp = comps[cid]
        c = 2.0
        if isinstance(comp, LoadBalancer):
            c = 1.0 + max((cost(t, depth + 1) for t in comp.targets), default=1.0)
        elif isinstance(comp, Service):
            c = 2.0 + sum(1.0 + cost(x, depth + 1) for x in comp.calls)
        elif isinstance(comp, Cache):
            c = 2.0 + cost(comp.backing, depth + 1)
        memo[cid] = c
        return c

    return 1.0 + cost(doc.workload.target)
