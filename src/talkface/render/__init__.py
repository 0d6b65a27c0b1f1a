"""talkface.render"""
