"""The head-office console's service layer: every rule about who may do what, and every write.

Views (central/web/) call these functions with the signed-in
:class:`~central.services.access.Actor`; each checks the actor's role and
store scope, validates its input (raising
:class:`~central.services.access.FormError` with a message per form field and
changing nothing), writes in one transaction together with its audit row,
and gives changed customers a new version so the publisher sends them down.
The command line calls the same functions as :data:`~central.services.access.SYSTEM`.
"""
