"""The security functions the spec's `securitySchemes` name (`x-bearerInfoFunc`,
`x-apikeyInfoFunc`): a token in `Authorization: Bearer ...` or in `?token=...`."""

from rasa_messaging.auth import SCOPE_KEY


def _token_info(token, request):
    routing = request.scope["extensions"]["connexion_routing"]
    return request.scope["extensions"][SCOPE_KEY].token_info(token, routing["operation_id"])


def bearer_token_info(token, request):
    return _token_info(token, request)


def query_token_info(token, request):
    return _token_info(token, request)
