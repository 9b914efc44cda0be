"""Operations tagged `Analytics`."""

from rasa_messaging.periods import analytics
from rasa_messaging.store import AnalyticsNotFound

from . import store


def user_analytics(start=None, end=None, window=None):
    try:
        return analytics(store(), start, end, window)
    except AnalyticsNotFound as error:  # the seed's own schema for this 404
        return {"exception": AnalyticsNotFound.__name__, "reasons": error.detail}, 404
