"""talkface.eval"""
