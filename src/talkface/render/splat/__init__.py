"""talkface.render.splat"""
