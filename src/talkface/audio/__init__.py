"""talkface.audio"""
