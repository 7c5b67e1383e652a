"""WeChat's XML pushes read with the standard library's C parser where wechatpy would use xmltodict.

xmltodict builds its dictionaries in Python callbacks: reading a push twice (the encrypted envelope,
then the message) took more of a WeChat message's time than anything else in the adapter (issue 16).
Every push WeChat sends is one flat <xml> element of named text fields; those are read here into the
same dictionary xmltodict gives. Anything else (nested elements, attributes, repeated or namespaced
names, text beside the fields, or a document this parser refuses) goes to wechatpy's own parser as
before, so the answer to an odd push does not change. DOCTYPE and ENTITY declarations never get here
(the adapter refuses them first).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from wechatpy import parse_message as wechatpy_parse_message
from wechatpy.events import EVENT_TYPES
from wechatpy.messages import MESSAGE_TYPES, UnknownMessage


def flat_fields(xml: str) -> dict[str, str | None] | None:
    """The fields of a flat <xml> document as xmltodict gives them (text stripped, empty as None);
    None when the document is not that simple."""
    try:
        root = ET.fromstring(xml)
    except (ET.ParseError, ValueError):
        return None
    if root.tag != "xml" or root.attrib or (root.text and root.text.strip()):
        return None
    fields: dict[str, str | None] = {}
    for child in root:
        tag = child.tag
        if (not isinstance(tag, str) or tag in fields or tag.startswith("{") or len(child) or child.attrib
                or (child.tail and child.tail.strip())):
            return None
        text = child.text
        fields[tag] = (text.strip() or None) if text else None
    return fields or None  # <xml/>: xmltodict gives None, not a dictionary


def parse_message(xml: str) -> Any:
    """A wechatpy message or event object for the push, as `wechatpy.parse_message` returns it."""
    fields = flat_fields(xml)
    if fields is None:
        return wechatpy_parse_message(xml)
    return message_of(fields)


def message_of(message: dict[str, Any]) -> Any:
    """wechatpy's choice of message class (wechatpy.parser.parse_message, MIT licence), for fields read
    already."""
    message_type = message["MsgType"].lower()  # KeyError/AttributeError as wechatpy's: a malformed push
    event_type = None
    if message_type == "event" or message_type.startswith("device_"):
        if "Event" in message:
            event_type = message["Event"].lower()
        if event_type is None and message_type.startswith("device_"):
            event_type = message_type
        elif message_type.startswith("device_"):
            event_type = f"device_{event_type}"
        if event_type == "subscribe" and message.get("EventKey"):
            event_key = message["EventKey"]
            if event_key.startswith(("scanbarcode|", "scanimage|")):
                event_type = "subscribe_scan_product"
                message["Event"] = event_type
            elif event_key.startswith("qrscene_"):
                event_type = "subscribe_scan"
                message["Event"] = event_type
                message["EventKey"] = event_key[len("qrscene_"):]
        return EVENT_TYPES.get(event_type, UnknownMessage)(message)
    return MESSAGE_TYPES.get(message_type, UnknownMessage)(message)
