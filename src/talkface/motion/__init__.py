"""talkface.motion"""
