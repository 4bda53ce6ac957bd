"""DH_live mini 2D renderer: prompt (vertex + raster), flow warp, DINet_mini mouth, paste-back.

Modules, in pipeline order: `vertex` (wrap-mesh morph and pose), `raster` (prompt image),
`warp` (warp, mouth composition, blend, crop and paste), `dinet` (DINet_mini and its loader),
`pipeline` (one object that renders frames of a prepared avatar). `dinet_v1` holds the v1
DINet_five_Ref network for DH_live v1 checkpoints.
"""

from talkinghead.render.photo2d.dinet import DINetMini, load_dinet_mini
from talkinghead.render.photo2d.pipeline import MiniRenderer, pingpong_index

from talkinghead.render.photo2d.avatar_renderer import AvatarRenderer

__all__ = ["DINetMini", "MiniRenderer", "load_dinet_mini", "pingpong_index", "AvatarRenderer"]
