"""The Python API behind the CLI: each function takes a configuration and returns data.

The CLI only parses arguments and renders what these functions return.
"""

from __future__ import annotations

from dataclasses import dataclass

from metaxy.config import MetaxyConfig, load_config
from metaxy.discovery import load_features
from metaxy.graph import FeatureGraph
from metaxy.versions import versions_of


@dataclass(frozen=True)
class Project:
    """A loaded project: its configuration and its feature graph."""

    config: MetaxyConfig
    graph: FeatureGraph

    @property
    def version(self) -> str:
        return versions_of(self.graph).project_version(self.config.project)


def load_project(config: MetaxyConfig | None = None, *, strict: bool = True) -> Project:
    """Read the configuration and discover every installed team package's features."""
    config = config if config is not None else load_config()
    packages = list(config.packages) if config.packages is not None else None
    graph = load_features(strict=strict, packages=packages)
    return Project(config, graph)


@dataclass(frozen=True)
class FeatureRow:
    key: str
    feature_version: str
    definition_version: str
    upstream: list[str]
    fields: dict[str, str]
    package: str | None


def list_features(project: Project) -> list[FeatureRow]:
    """Every feature in topological order with its static versions."""
    from metaxy.packages import package_of

    versions = versions_of(project.graph)
    rows = []
    for key in project.graph.topological_order():
        cls = project.graph.get(key)
        rows.append(FeatureRow(
            key=str(key),
            feature_version=versions.feature_version(key),
            definition_version=versions.definition_version(key),
            upstream=[str(k) for k in project.graph.upstream(key)],
            fields=versions.field_versions(key),
            package=package_of(cls.__module__),
        ))
    return rows
