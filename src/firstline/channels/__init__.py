"""Where people meet Firstline besides the web chat and the API: Slack, Microsoft Teams and e-mail.

Each channel turns its protocol's messages into calls of the same :class:`~firstline.helpdesk.desk.Helpdesk`
the web chat uses, and its replies back; a channel's user becomes a directory person only through a
verified identity (:class:`~firstline.conversations.channels.SqlChannels`), never by a display name.
The service mounts each channel's routes (``firstline.service.app``); the channels sit below it.
"""
