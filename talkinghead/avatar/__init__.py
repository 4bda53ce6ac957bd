"""Avatars for the 2D renderer: preparation from landmarks and DH_live's file format.

`prepare` holds the per-stage maths (smoothing, rectangles, pose fit, mean face, lip normalisation,
wrap mesh), `reference` the DINet_mini style reference, `build` chains them, `formats` reads and
writes DH_live's `combined_data.json.gz`, `topology` keeps the MediaPipe index tables.
"""

from talkinghead.avatar.formats import AvatarFrame, MiniAvatarData, read_combined_data, write_combined_data

from talkinghead.avatar.store import Avatar, export_dhlive, import_dhlive


def prepare_avatar(input_path, out_dir) -> Avatar:
    """A photo or 5-30 s video -> a prepared avatar folder (see `talkinghead.avatar.photo`)."""
    from talkinghead.avatar.photo import prepare_avatar as prepare
    return prepare(input_path, out_dir)


__all__ = ["AvatarFrame", "MiniAvatarData", "read_combined_data", "write_combined_data",
           "Avatar", "prepare_avatar", "export_dhlive", "import_dhlive"]
