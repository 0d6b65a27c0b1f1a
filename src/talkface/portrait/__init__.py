"""talkface.portrait"""
