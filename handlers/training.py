"""Operations tagged `Training` (extension): annotations, NLU training data, test stories."""

from connexion import NoContent

from rasa_messaging.dumps import attachment
from rasa_messaging.e2e_tests import e2e_tests_yaml
from rasa_messaging.store import MessageFilter
from rasa_messaging.training_data import nlu_yaml, test_stories_yaml

from . import caller, store


def put_annotation(sender_id, message_timestamp, body):
    return store().annotate(sender_id, message_timestamp, body["intent"], body.get("entities"), by=caller())


def delete_annotation(sender_id, message_timestamp):
    store().unannotate(sender_id, message_timestamp, by=caller())
    return NoContent, 204


def get_annotations(limit=None, offset=0, since=None, sender_id=None):
    total, annotations = store().annotations(limit=limit, offset=offset, since=since, sender_id=sender_id)
    return annotations, 200, {"X-Total-Count": str(total)}


def get_nlu_training_data(since=None):
    text, conflicts = nlu_yaml(store().annotations(since=since)[1])
    return text, 200, {"Content-Type": "text/yaml", "X-Conflict-Count": str(len(conflicts)),
                       "Content-Disposition": attachment("nlu_from_review.yml")}


def download_test_story(sender_id, until=None, use_history=True):
    events = store().events(sender_id, until=until, use_history=use_history)
    text, _, _ = test_stories_yaml([(sender_id, events, store().annotations(sender_id=sender_id)[1])])
    return text, 200, {"Content-Type": "text/yaml",
                       "Content-Disposition": attachment(f"{sender_id}-test-story.yml")}


def download_e2e_test(sender_id):
    text, _, _ = e2e_tests_yaml([(sender_id, store().events(sender_id))])
    return text, 200, {"Content-Type": "text/yaml", "Content-Disposition": attachment(f"{sender_id}-e2e-test.yml")}


def get_message_groups(limit=None, offset=0, intent=None, maximum_confidence=None, model_id=None, input_channel=None,
                       command=None, start=None, until=None, text=None, order="lowest_confidence"):
    filters = MessageFilter.from_parameters(intent=intent, maximum_confidence=maximum_confidence, model_id=model_id,
                                            input_channel=input_channel, command=command, start=start, until=until,
                                            text=text)
    total, groups = store().message_groups(filters, order=order, limit=limit, offset=offset)
    return groups, 200, {"X-Total-Count": str(total)}


def annotate_message_groups(body):
    return store().annotate_texts(body["groups"], by=caller())
