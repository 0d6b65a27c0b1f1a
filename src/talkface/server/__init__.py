"""talkface.server"""
