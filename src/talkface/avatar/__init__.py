"""talkface.avatar"""
