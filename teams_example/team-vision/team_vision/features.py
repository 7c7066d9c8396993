"""Vision team: face detection over the media team's frames."""

from __future__ import annotations

from team_media.features import Video

import metaxy as mx


class Faces(
    mx.Feature,
    table=True,
    spec=mx.FeatureSpec(
        key="vision/faces",
        id_columns=["video_id"],
        deps=[mx.FeatureDep(feature=Video, columns=())],
        # Same-key default would not apply (no 'faces' field upstream): pin it to frames only.
        fields=[mx.FieldSpec(key="faces", code_version="1",
                             deps=[mx.FieldDep(feature=Video, fields=["frames"])])],
    ),
):
    video_id: str
    n_faces: int | None = None

# The compute functions declare themselves on the classes above (@Feature.computes); importing
# them here makes every loader of the features (metaxy check, push) see the declarations.
from team_vision import compute as compute  # noqa: E402
