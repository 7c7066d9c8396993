"""The feature graph: registration, validation, topological order and field-level dependencies.

A process has one default graph that feature classes register into when they are defined. Tests
and snapshot loading use isolated graphs::

    with mx.FeatureGraph().use() as graph:
        class Video(mx.Feature, table=True, spec=...): ...

Each graph owns its own SQLAlchemy registry/MetaData, so two graphs may define the same table.
Dependencies are resolved lazily (a feature may be defined before its upstream, e.g. across team
packages); :meth:`FeatureGraph.validate` checks missing upstreams, cycles and field dependencies.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy.orm import registry as sa_registry_cls

from metaxy.errors import (
    DependencyCycleError,
    DuplicateFeatureError,
    FeatureDefinitionError,
    FeatureNotFoundError,
    MissingUpstreamError,
    TableNameCollisionError,
)
from metaxy.keys import FeatureKey, FieldKey
from metaxy.packages import package_of

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.spec import FeatureSpec

FieldRef = tuple[FeatureKey, FieldKey]


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _error_for(cls: type[Feature], error: type[FeatureDefinitionError], message: str,
               field: str | None = None) -> FeatureDefinitionError:
    return error(
        message,
        feature_key=str(cls.spec().key),
        class_path=class_path(cls),
        package=package_of(cls.__module__),
        field=field,
    )


class FeatureGraph:
    """A set of feature classes and the relations between them."""

    _active: ClassVar[contextvars.ContextVar[FeatureGraph]]
    _default: ClassVar[FeatureGraph]

    def __init__(self) -> None:
        self.sa_registry = sa_registry_cls()
        self._features: dict[FeatureKey, type[Feature]] = {}
        self._cache: dict[str, object] = {}

    # ------------------------------------------------------------------ activation
    @classmethod
    def get_active(cls) -> FeatureGraph:
        """The graph new feature classes register into."""
        return cls._active.get()

    @contextlib.contextmanager
    def use(self) -> Iterator[FeatureGraph]:
        """Make this graph the active one inside the ``with`` block."""
        token = FeatureGraph._active.set(self)
        try:
            yield self
        finally:
            FeatureGraph._active.reset(token)

    @classmethod
    @contextlib.contextmanager
    def isolated(cls) -> Iterator[FeatureGraph]:
        """A fresh, empty graph, active inside the ``with`` block."""
        with cls().use() as graph:
            yield graph

    # ------------------------------------------------------------------ registration
    def check_can_register(self, key: FeatureKey, new_class_path: str) -> None:
        existing = self._features.get(key)
        if existing is not None:
            new_pkg = package_of(new_class_path.rsplit(".", 1)[0])
            old_pkg = package_of(existing.__module__)
            raise DuplicateFeatureError(
                f"feature key '{key}' is defined twice: by {class_path(existing)} "
                f"(package {old_pkg}) and by {new_class_path} (package {new_pkg})",
                feature_key=str(key),
                class_path=new_class_path,
            )

    def add(self, feature: type[Feature]) -> None:
        """Register a feature class (called by the metaclass)."""
        spec = feature.spec()
        self.check_can_register(spec.key, class_path(feature))
        table_name = spec.key.table_name
        for other in self._features.values():
            if other.spec().key.table_name == table_name:  # pragma: no cover - hash collision
                raise _error_for(
                    feature, TableNameCollisionError,
                    f"table name '{table_name}' is already used by '{other.spec().key}'",
                )
        self._features[spec.key] = feature
        self._cache.clear()

    def remove(self, key: FeatureKey) -> None:
        """Unregister a feature (used to roll back a failed package import)."""
        feature = self._features.pop(key, None)
        if feature is not None:
            self.discard_class(feature, key.table_name)
        self._cache.clear()

    def discard_table(self, table_name: str) -> None:
        metadata = self.sa_registry.metadata
        if table_name in metadata.tables:
            metadata.remove(metadata.tables[table_name])

    def discard_class(self, cls: type, table_name: str) -> None:
        """Forget a class that failed validation or was rolled back: its table and its mapper.

        Without this the registry keeps the dead class, and redefining it (a retried import)
        warns that the declarative registry already holds a class of that name.
        """
        self.discard_table(table_name)
        registry = self.sa_registry
        for manager in list(registry._managers):
            if manager.class_ is cls:
                registry._dispose_manager_and_mapper(manager)
                registry._managers.pop(manager, None)

    @contextlib.contextmanager
    def staged(self) -> Iterator[FeatureGraph]:
        """Register features atomically: if the block raises, everything it added is removed."""
        before = set(self._features)
        try:
            yield self
        except BaseException:
            for key in set(self._features) - before:
                self.remove(key)
            raise

    # ------------------------------------------------------------------ lookup
    def __contains__(self, key: object) -> bool:
        try:
            return FeatureKey(key) in self._features  # type: ignore[arg-type]
        except Exception:
            return False

    def __len__(self) -> int:
        return len(self._features)

    @property
    def keys(self) -> list[FeatureKey]:
        return sorted(self._features)

    def get(self, ref: str | FeatureKey | type[Feature]) -> type[Feature]:
        """The feature class for a key string, a FeatureKey, or a class."""
        if isinstance(ref, type):
            key = ref.spec().key
        else:
            key = FeatureKey(ref)
        try:
            return self._features[key]
        except KeyError:
            raise FeatureNotFoundError(str(key), [str(k) for k in self._features]) from None

    def spec(self, ref: str | FeatureKey | type[Feature]) -> FeatureSpec:
        return self.get(ref).spec()

    # ------------------------------------------------------------------ structure
    def validate(self) -> None:
        """Check every dependency resolves and the graph is acyclic; raise a definition error."""
        self.topological_order()

    def topological_order(self) -> list[FeatureKey]:
        """All feature keys, upstream before downstream, ties broken by key."""
        cached = self._cache.get("topo")
        if isinstance(cached, list):
            return list(cached)
        for feature in self._features.values():
            self._validate_deps(feature)
        order: list[FeatureKey] = []
        state: dict[FeatureKey, int] = {}

        def visit(key: FeatureKey, path: list[FeatureKey]) -> None:
            mark = state.get(key)
            if mark == 2:
                return
            if mark == 1:
                cycle = [*path[path.index(key):], key]
                raise _error_for(self._features[key], DependencyCycleError,
                                 "dependency cycle: " + " -> ".join(str(k) for k in cycle))
            state[key] = 1
            for dep in sorted(d.feature for d in self._features[key].spec().deps):
                visit(dep, [*path, key])
            state[key] = 2
            order.append(key)

        for key in sorted(self._features):
            visit(key, [])
        self._cache["topo"] = order
        return list(order)

    def _validate_deps(self, feature: type[Feature]) -> None:
        spec = feature.spec()
        for dep in spec.deps:
            if dep.feature not in self._features:
                raise _error_for(feature, MissingUpstreamError,
                                 f"depends on '{dep.feature}', which is not a registered feature")
        for field in spec.fields:
            if isinstance(field.deps, tuple):
                for fd in field.deps:
                    upstream = self._features[fd.feature].spec()
                    if fd.fields == "all":
                        continue
                    for name in fd.fields:
                        if name not in upstream.field_keys:
                            raise _error_for(
                                feature, FeatureDefinitionError,
                                f"field '{field.key}' depends on field '{name}' of "
                                f"'{fd.feature}', which has fields "
                                f"{[str(k) for k in upstream.field_keys]}",
                                field=str(field.key),
                            )

    def upstream(self, ref: str | FeatureKey | type[Feature]) -> list[FeatureKey]:
        """Direct upstream feature keys, sorted."""
        return sorted(d.feature for d in self.spec(ref).deps)

    def downstream(self, ref: str | FeatureKey | type[Feature], *,
                   transitive: bool = False) -> list[FeatureKey]:
        """Feature keys depending on ``ref`` (directly, or transitively), in topological order."""
        key = self.get(ref).spec().key
        result: set[FeatureKey] = set()
        frontier = {key}
        while frontier:
            nxt = {
                k for k, f in self._features.items()
                if any(d.feature in frontier for d in f.spec().deps)
            } - result
            result |= nxt
            frontier = nxt if transitive else set()
        return [k for k in self.topological_order() if k in result]

    def field_parents(self, ref: str | FeatureKey | type[Feature],
                      field: str | FieldKey) -> list[FieldRef]:
        """The upstream fields one field depends on, sorted by fully-qualified name (SPEC §2)."""
        spec = self.spec(ref)
        fspec = spec.field(FieldKey(field))
        parents: set[FieldRef] = set()
        if fspec.deps == "none":
            return []
        for dep in spec.deps:
            upstream = self.spec(dep.feature)
            if isinstance(fspec.deps, tuple):
                for fd in fspec.deps:
                    if fd.feature != dep.feature:
                        continue
                    names = upstream.field_keys if fd.fields == "all" else fd.fields
                    parents.update((dep.feature, n) for n in names)
            elif fspec.deps == "all" or fspec.key not in upstream.field_keys:
                parents.update((dep.feature, n) for n in upstream.field_keys)
            else:
                parents.add((dep.feature, fspec.key))
        return sorted(parents, key=lambda p: (p[0].to_string(), p[1].to_string()))


FeatureGraph._default = FeatureGraph()
FeatureGraph._active = contextvars.ContextVar("metaxy_active_graph",
                                               default=FeatureGraph._default)
FeatureGraph.__module__ = "metaxy"
