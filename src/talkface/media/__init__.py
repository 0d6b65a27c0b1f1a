"""talkface.media"""
