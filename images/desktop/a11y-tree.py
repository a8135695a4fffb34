#!/usr/bin/env python3
"""Prints the desktop's accessibility tree (AT-SPI) as one XML document on stdout.

The vm backend runs this inside the desktop (through its exec path, under a time limit) when a
session asks for accessibility-tree observations. The XML has the shape upstream's desktop server
answers, which agents and their tree linearisers read: a <desktop-frame> root, one element per
accessible named after its role (spaces as dashes), its name in `name`, its states as
st:<state>="true", toolkit attributes as attr:<name>, position and size (cp:screencoord,
cp:size) for what is showing, text as the element's content, value (val:) and action (act:)
details.

Bounded: at most MAX_DEPTH levels, MAX_CHILDREN children per node and MAX_NODES nodes; a deadline
(seconds, first argument, default 4) ends the walk early with what was read so far.
"""
import re
import sys
import time
import xml.etree.ElementTree as ET

import pyatspi

MAX_DEPTH = 50
MAX_CHILDREN = 1024
MAX_NODES = 5000

NS = {
    "st": "https://accessibility.ubuntu.example.org/ns/state",
    "attr": "https://accessibility.ubuntu.example.org/ns/attributes",
    "cp": "https://accessibility.ubuntu.example.org/ns/component",
    "doc": "https://accessibility.ubuntu.example.org/ns/document",
    "docattr": "https://accessibility.ubuntu.example.org/ns/document/attributes",
    "txt": "https://accessibility.ubuntu.example.org/ns/text",
    "val": "https://accessibility.ubuntu.example.org/ns/value",
    "act": "https://accessibility.ubuntu.example.org/ns/action",
}
for prefix, uri in NS.items():
    ET.register_namespace(prefix, uri)

# Characters XML 1.0 cannot carry, and what an XML name may not contain.
BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ufffc\ufffd]")
BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def clean(text):
    return BAD_XML_CHARS.sub("", str(text))


def xml_name(text):
    name = BAD_NAME_CHARS.sub("-", text.strip()) or "unknown"
    return name if re.match(r"[A-Za-z_]", name) else "_" + name


def q(prefix, local):
    return "{%s}%s" % (NS[prefix], xml_name(local))


class Walk:
    def __init__(self, deadline):
        self.deadline = deadline
        self.nodes = 0

    def expired(self):
        return self.nodes >= MAX_NODES or time.monotonic() > self.deadline

    def element(self, node, depth):
        self.nodes += 1
        attrs = {"name": clean(node.name or "")}
        try:
            states = node.getState().getStates()
        except Exception:
            states = []
        for st in states:
            # pyatspi names states STATE_SHOWING etc.; the tree uses "showing".
            name = pyatspi.stateToString(st) if hasattr(pyatspi, "stateToString") else str(st)
            name = str(name).lower().replace(" ", "-")
            if name.startswith("state_"):
                name = name[len("state_"):]
            if name:
                attrs[q("st", name)] = "true"
        try:
            for key, value in (node.get_attributes() or {}).items():
                if key:
                    attrs[q("attr", key)] = clean(value)
        except Exception:
            pass
        if attrs.get(q("st", "visible")) == "true" and attrs.get(q("st", "showing")) == "true":
            try:
                box = node.queryComponent().getExtents(pyatspi.XY_SCREEN)
                attrs[q("cp", "screencoord")] = "(%d, %d)" % (box.x, box.y)
                attrs[q("cp", "size")] = "(%d, %d)" % (box.width, box.height)
            except Exception:
                pass
        text = ""
        try:
            t = node.queryText()
            text = clean(t.getText(0, t.characterCount))
        except Exception:
            pass
        for flag, query in (("image", "queryImage"), ("selection", "querySelection")):
            try:
                getattr(node, query)()
                attrs[flag] = "true"
            except Exception:
                pass
        try:
            v = node.queryValue()
            for key, read in (
                ("value", lambda: v.currentValue),
                ("min", lambda: v.minimumValue),
                ("max", lambda: v.maximumValue),
                ("step", lambda: v.minimumIncrement),
            ):
                try:
                    attrs[q("val", key)] = str(read())
                except Exception:
                    pass
        except Exception:
            pass
        try:
            a = node.queryAction()
            for i in range(a.nActions):
                action = a.getName(i).replace(" ", "-")
                attrs[q("act", action + "_desc")] = clean(a.getDescription(i))
                attrs[q("act", action + "_kb")] = clean(a.getKeyBinding(i))
        except Exception:
            pass

        try:
            role = node.getRoleName() or ""
        except Exception:
            role = ""
        el = ET.Element(xml_name(role.replace(" ", "-")), attrs)
        if text:
            el.text = text
        if depth >= MAX_DEPTH:
            return el
        try:
            count = min(node.childCount, MAX_CHILDREN)
        except Exception:
            count = 0
        for i in range(count):
            if self.expired():
                break
            try:
                child = node.getChildAtIndex(i)
            except Exception:
                continue
            if child is not None:
                el.append(self.element(child, depth + 1))
        return el


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
    walk = Walk(time.monotonic() + seconds)
    root = ET.Element("desktop-frame")
    desktop = pyatspi.Registry.getDesktop(0)
    for i in range(desktop.childCount):
        if walk.expired():
            break
        try:
            app = desktop.getChildAtIndex(i)
        except Exception:
            continue
        if app is not None:
            root.append(walk.element(app, 1))
    sys.stdout.write(ET.tostring(root, encoding="unicode"))


if __name__ == "__main__":
    main()
