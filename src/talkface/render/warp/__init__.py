"""talkface.render.warp"""
