#!/usr/bin/env python3
"""Writes the content part of docs/openapi.json from
Shared/GuildMessages/Protos/guild/content/v1/content.proto and the route table below.

The content API's JSON is the proto3 JSON mapping of guild.content.v1 (lowerCamelCase names,
timestamps as RFC 3339 strings, int64 as numbers, fields at their default value omitted), so
its schemas are derived from the .proto file rather than written by hand. Run it after changing
the proto or ContentRoutes.swift; the gateway's tests check that the document and the served
routes agree.
"""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "Shared/GuildMessages/Protos/guild/content/v1/content.proto"
# docs/openapi.json is a link to the gateway's bundled copy.
DOCS = [ROOT / "Services/Gateway/GuildGateway/Resources/openapi.json"]

# method, path, operationId, summary, request message (None: no body), response message, success
# status, caller ("user" or "anyone"), query parameters [(name, type, description)], tag
ROUTES = [
    ("post", "/api/v1/communities/{communityId}/items", "createItem", "Write a post or a course (a draft, or published with publish: true).", "CreateItemRequest", "Item", 201, "user", [], "content"),
    ("get", "/api/v1/communities/{communityId}/items", "listItems", "A community's items, newest first, without bodies (each with the excerpt the caller may read).", None, "ItemList", 200, "anyone",
     [("kind", "string", "post or course"), ("status", "string", "published (default), mine, or for staff draft, scheduled, pending_review, rejected, removed, deleted"),
      ("tag", "string", "only items with this tag"), ("cursor", "string", "nextCursor of the previous page"), ("limit", "integer", "1 to 100, default 20")], "content"),
    ("get", "/api/v1/items/{itemId}", "getItem", "An item: the whole body for those who may read it, else the free part and the paywall with the plans that open it.", None, "Item", 200, "anyone", [], "content"),
    ("patch", "/api/v1/items/{itemId}", "updateItem", "Edit an item (its author or the owners); each change of title or text keeps the previous version.", "UpdateItemRequest", "Item", 200, "user", [], "content"),
    ("delete", "/api/v1/items/{itemId}", "deleteItem", "Delete an item (soft: its author or a moderator may restore it for 30 days).", None, "Item", 200, "user", [], "content"),
    ("post", "/api/v1/items/{itemId}/publish", "publishItem", "Publish now or at publishAt; held for review when the keyword filter matches or the community approves members' posts.", "PublishItemRequest", "Item", 200, "user", [], "content"),
    ("post", "/api/v1/items/{itemId}/restore", "restoreItem", "Restore a deleted item within 30 days.", None, "Item", 200, "user", [], "content"),
    ("get", "/api/v1/items/{itemId}/revisions", "listRevisions", "An item's edit history, newest first (its author and staff).", None, "RevisionList", 200, "user", [], "content"),
    ("post", "/api/v1/items/{itemId}/chapters", "addChapter", "Add a chapter to a course.", "AddChapterRequest", "Chapter", 201, "user", [], "courses"),
    ("post", "/api/v1/chapters/{chapterId}/move", "moveChapter", "Move a chapter after another (or first); one row changes.", "MoveChapterRequest", "Chapter", 200, "user", [], "courses"),
    ("post", "/api/v1/chapters/{chapterId}/lessons", "addLesson", "Add a lesson to a chapter.", "AddLessonRequest", "Lesson", 201, "user", [], "courses"),
    ("get", "/api/v1/lessons/{lessonId}", "getLesson", "A lesson: its body when free or the caller may read the course, else the paywall.", None, "Lesson", 200, "anyone", [], "courses"),
    ("patch", "/api/v1/lessons/{lessonId}", "updateLesson", "Edit a lesson.", "UpdateLessonRequest", "Lesson", 200, "user", [], "courses"),
    ("post", "/api/v1/lessons/{lessonId}/move", "moveLesson", "Move a lesson within its course; one row changes.", "MoveLessonRequest", "Lesson", 200, "user", [], "courses"),
    ("post", "/api/v1/lessons/{lessonId}/progress", "recordProgress", "Record the caller's position in a lesson and, with completed, mark it done.", "CompleteLessonRequest", "Progress", 200, "user", [], "courses"),
    ("get", "/api/v1/items/{itemId}/progress", "getProgress", "The caller's progress in a course.", None, "Progress", 200, "user", [], "courses"),
    ("post", "/api/v1/items/{itemId}/attachments", "addAttachment", "Attach a file: the body is the file, Content-Type its type (images, PDF, ZIP, text, CSV, JSON), at most 960 KiB.", "RAW", "Attachment", 201, "user",
     [("filename", "string", "the file's name")], "content"),
    ("get", "/api/v1/attachments/{attachmentId}", "getAttachment", "An attachment's bytes with its type, to callers who may read the whole item.", None, "FILE", 200, "anyone", [], "content"),
    ("post", "/api/v1/items/{itemId}/comments", "addComment", "Comment on an item or one of its lessons (lessonId), or answer a comment (parentId). @<userId> mentions a member.", "AddCommentRequest", "Comment", 201, "user", [], "discussion"),
    ("get", "/api/v1/items/{itemId}/comments", "listComments", "The threads of an item or lesson: pinned first, answers nested.", None, "CommentList", 200, "anyone",
     [("lessonId", "string", "a lesson of the course")], "discussion"),
    ("post", "/api/v1/reactions", "react", "Add (or with remove: true, take back) a reaction on an item or comment.", "ReactRequest", "ReactionList", 200, "user", [], "discussion"),
    ("post", "/api/v1/marks", "mark", "Pin or mark as essence (精华) an item or comment (owner and moderators).", "MarkRequest", "MarkResult", 200, "user", [], "discussion"),
    ("post", "/api/v1/reports", "report", "Report an item or comment to the moderators.", "ReportRequest", "QueueEntry", 201, "user", [], "moderation"),
    ("get", "/api/v1/communities/{communityId}/content-settings", "getContentSettings", "The community's rules (everyone) and keyword list and approval option (staff).", None, "CommunitySettings", 200, "anyone", [], "moderation"),
    ("patch", "/api/v1/communities/{communityId}/content-settings", "updateContentSettings", "Edit the rules, the keyword list (with replaceKeywords: true) and the approval option.", "UpdateSettingsRequest", "CommunitySettings", 200, "user", [], "moderation"),
    ("get", "/api/v1/communities/{communityId}/moderation-queue", "listModerationQueue", "The moderation queue (moderators).", None, "QueueList", 200, "user",
     [("status", "string", "pending (default), approved, rejected, removed or all")], "moderation"),
    ("post", "/api/v1/moderation-queue/{entryId}/decision", "decide", "Approve, reject (with a reason the author sees) or remove.", "DecideRequest", "QueueEntry", 200, "user", [], "moderation"),
    ("get", "/api/v1/communities/{communityId}/moderation-audit", "listModerationAudit", "Who decided what, newest first (moderators).", None, "AuditList", 200, "user",
     [("limit", "integer", "1 to 500, default 100")], "moderation"),
    ("put", "/api/v1/items/{itemId}/expert-review", "assignExpert", "Ask a guest expert to review a draft; it is published only once they approve.", "AssignExpertRequest", "ExpertReview", 200, "user", [], "moderation"),
    ("post", "/api/v1/items/{itemId}/expert-review/verdict", "submitExpertReview", "The assigned expert's verdict (approved or changes_requested) and comments.", "SubmitExpertReviewRequest", "ExpertReview", 200, "user", [], "moderation"),
    ("put", "/api/v1/items/{itemId}/ratings/mine", "rateCourse", "Rate a course 1–5 with a review (members who may read it; again to edit).", "RateCourseRequest", "Rating", 200, "user", [], "ratings"),
    ("get", "/api/v1/items/{itemId}/ratings", "listRatings", "A course's ratings with their average, count and distribution.", None, "RatingList", 200, "anyone", [], "ratings"),
    ("put", "/api/v1/items/{itemId}/ratings/{userId}/reply", "replyToRating", "The owner answers a review.", "ReplyToRatingRequest", "Rating", 200, "user", [], "ratings"),
    ("get", "/api/v1/search", "search", "Full-text search (English and Chinese) over what the caller may read, ranked, with <mark> snippets.", None, "SearchResults", 200, "anyone",
     [("q", "string", "1 to 200 characters"), ("communityId", "string", "only this community"), ("limit", "integer", "1 to 50, default 20")], "discovery"),
    ("get", "/api/v1/feed", "feed", "The caller's home feed across their communities, newest first, with what is new since the last visit.", None, "Feed", 200, "user",
     [("cursor", "string", "nextCursor of the previous page"), ("limit", "integer", "1 to 100, default 20"), ("communityId", "string", "only this community")], "discovery"),
]

SCALARS = {
    "string": {"type": "string"}, "bool": {"type": "boolean"}, "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"}, "double": {"type": "number", "format": "double"},
    "bytes": {"type": "string", "format": "byte"},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
}


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse(text):
    """message name -> (description, [(json name, type, repeated, description)])"""
    messages = {}
    comment = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("//"):
            comment.append(line[2:].strip())
            continue
        match = re.match(r"message (\w+) \{(\})?", line)
        if match:
            current = match.group(1)
            messages[current] = (" ".join(comment), [])
            comment = []
            if match.group(2):
                current = None
            continue
        match = re.match(r"(repeated |optional )?([\w.]+) (\w+) = \d+;", line)
        if match and current:
            messages[current][1].append((camel(match.group(3)), match.group(2), match.group(1) == "repeated ", " ".join(comment)))
        if line == "}":
            current = None
        comment = []
    return messages


def schema(messages, name):
    description, fields = messages[name]
    properties = {}
    for json_name, kind, repeated, doc in fields:
        item = dict(SCALARS[kind]) if kind in SCALARS else {"$ref": f"#/components/schemas/Content{kind}"}
        prop = {"type": "array", "items": item} if repeated else item
        if doc:
            prop = {**prop, "description": doc} if "$ref" not in prop else {"allOf": [prop], "description": doc}
        properties[json_name] = prop
    result = {"type": "object", "properties": properties, "additionalProperties": False}
    if description:
        result["description"] = description
    return result


def render(value, indent=0):
    """JSON with two-space indentation, short objects and arrays kept on one line (the
    document's house style, stable from one run to the next)."""
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if not isinstance(value, (dict, list)) or len(flat) + indent <= 100:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(key, ensure_ascii=False)}: {render(item, indent + 2)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + render(item, indent + 2) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def main():
    messages = parse(PROTO.read_text())
    used = set()

    def collect(name):
        if name in used or name not in messages:
            return
        used.add(name)
        for _, kind, _, _ in messages[name][1]:
            if kind not in SCALARS:
                collect(kind)

    for route in ROUTES:
        for name in (route[4], route[5]):
            if name not in (None, "RAW", "FILE"):
                collect(name)
    document = json.loads(DOCS[0].read_text())
    schemas = document["components"]["schemas"]
    for key in [k for k in schemas if k.startswith("Content")]:
        del schemas[key]
    for name in sorted(used):
        schemas[f"Content{name}"] = schema(messages, name)
    paths = document["paths"]
    content_paths = {route[1] for route in ROUTES}
    for path in list(paths):
        for method in list(paths[path]):
            if any(route[0] == method and route[1] == path for route in ROUTES):
                del paths[path][method]
        if not paths[path]:
            del paths[path]
    tags = {tag["name"] for tag in document.get("tags", [])}
    for tag, text in [("content", "Posts and courses behind the paywall (guild-content)."), ("courses", "Chapters, lessons and progress."),
                      ("discussion", "Comments, reactions, pins and essence."), ("moderation", "Rules, keyword filter, moderation queue, audit log, expert review."),
                      ("ratings", "Course ratings and reviews."), ("discovery", "Search and the home feed.")]:
        if tag not in tags:
            document.setdefault("tags", []).append({"name": tag, "description": text})
    for method, path, operation_id, summary, request, response, status, caller, query, tag in ROUTES:
        parameters = [{"name": name[1:-1], "in": "path", "required": True, "schema": {"type": "string"}} for name in re.findall(r"\{\w+\}", path)]
        for name, kind, text in query:
            parameters.append({"name": name, "in": "query", "required": name == "q", "schema": {"type": kind}, "description": text})
        operation = {
            "tags": [tag], "operationId": operation_id, "summary": summary,
            "description": "JSON in the proto3 JSON mapping of guild.content.v1." + (" A visitor may call it without a token; with one, the answer is for that user." if caller == "anyone" else ""),
        }
        if parameters:
            operation["parameters"] = parameters
        if caller == "user":
            operation["security"] = [{"bearer": []}]
        else:
            operation["security"] = [{}, {"bearer": []}]
        if request == "RAW":
            operation["requestBody"] = {"required": True, "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
        elif request:
            operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/Content{request}"}}}}
        if response == "FILE":
            ok = {"description": "The file, with its Content-Type, X-Content-Type-Options: nosniff and a sandboxing Content-Security-Policy.",
                  "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
        else:
            ok = {"description": messages[response][0] or response, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/Content{response}"}}}}
        responses = {str(status): ok, "400": {"$ref": "#/components/responses/BadRequest"}}
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
        responses["403"] = {"$ref": "#/components/responses/Forbidden"}
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
        if request:
            responses["413"] = {"$ref": "#/components/responses/ContentTooLarge"}
        responses["503"] = {"$ref": "#/components/responses/Unavailable"}
        operation["responses"] = responses
        paths.setdefault(path, {})[method] = operation
    text = render(document)
    for target in DOCS:
        target.write_text(text + "\n")
    print(f"wrote {len(ROUTES)} content operations and {len(used)} schemas to " + ", ".join(str(p.relative_to(ROOT)) for p in DOCS))


if __name__ == "__main__":
    main()
