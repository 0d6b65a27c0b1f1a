"""talkface.face"""
