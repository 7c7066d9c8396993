"""``describe`` shows the feature's docstring when the spec has no description (issue 18 item 6),
as the Dagster plugin does; a spec's description wins, and mx.Feature's own docstring is never
inherited."""

from __future__ import annotations

import metaxy as mx
from metaxy import api


def test_describe_shows_the_class_docstring(graph: mx.FeatureGraph) -> None:
    class Doc(mx.Feature, table=True, spec=mx.FeatureSpec(key="d/doc", id_columns=["i"])):
        """Pages of a document.

        One row per page.
        """

        i: str

    class Spec(mx.Feature, table=True, spec=mx.FeatureSpec(
            key="d/spec", id_columns=["i"], description="From the spec.")):
        """Not shown."""

        i: str

    class Bare(mx.Feature, table=True, spec=mx.FeatureSpec(key="d/bare", id_columns=["i"])):
        i: str

    project = api.Project(mx.MetaxyConfig(), graph)
    assert api.describe(project, "d/doc").description == "Pages of a document.\n\nOne row per page."
    assert api.describe(project, "d/spec").description == "From the spec."
    assert api.describe(project, "d/bare").description is None
    assert graph.get("d/doc") is Doc and graph.get("d/spec") is Spec and graph.get("d/bare") is Bare
