"""The holder's hosted flow: secure links, the screens, the steps at the bank, the repair.

relink.hosted.views holds the routes; relink.app includes them.
"""
