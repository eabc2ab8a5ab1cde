import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import SwiftProtobuf

/// A course's outline with the member's progress, and its lessons: previous / next, mark
/// complete, the paywall on a locked lesson (its title shows; its text does not), and the
/// lesson's discussion.
extension WebPages {
    static let courses: [WebPage] = [
        WebPage(.get, "/c/:slug/courses/:id") { web, visit in
            let (community, course) = try await web.course(slug: try visit.path("slug"), id: try visit.path("id"), visit: visit)
            let outline = CourseOutline(course, slug: community.slug, current: "", visit: visit)
            var values: [String: Any] = [
                "pageTitle": course.title, "slug": community.slug, "community": community.name,
                "title": course.title, "html": course.html, "outline": outline.chapters, "progress": outline.progress,
            ]
            if outline.lockedCount > 0, let paywall = outline.paywall {
                values["paywall"] = PaywallBox(paywall, slug: community.slug, visit: visit,
                                               locked: visit.catalogue.plural("course_locked", count: Int64(outline.lockedCount))).values
            }
            if let first = outline.resume { values["resume"] = first }
            return visit.render("course", values)
        },
        WebPage(.get, "/c/:slug/lessons/:id") { web, visit in
            let slug = try visit.path("slug")
            var lessonRequest = ContentLessonRequest()
            lessonRequest.lessonID = try visit.path("id")
            let lesson = try await web.gateway.client(.content).call(ContentAPI.getLesson, lessonRequest, metadata: visit.metadata)
            // The lesson's discussion and its course, asked in parallel.
            var commentsRequest = ContentListCommentsRequest()
            commentsRequest.itemID = lesson.courseID
            commentsRequest.lessonID = lesson.id
            async let comments = web.gateway.client(.content).call(ContentAPI.listComments, commentsRequest, metadata: visit.metadata)
            let (community, course) = try await web.course(slug: slug, id: lesson.courseID, visit: visit)
            // Comments are for readers of the lesson; a visitor or a non-member is told so instead.
            let thread = (try? await comments.comments) ?? []
            let names = await web.displayNames(Set(thread.flatMap { [$0.authorID] + $0.replies.map(\.authorID) }), metadata: visit.metadata)
            let outline = CourseOutline(course, slug: community.slug, current: lesson.id, visit: visit)
            var values: [String: Any] = [
                "pageTitle": lesson.title, "slug": community.slug, "community": community.name,
                "courseTitle": course.title, "courseHref": "/c/\(community.slug)/courses/\(course.id)",
                "title": lesson.title, "html": lesson.html, "locked": lesson.locked, "completed": lesson.completed,
                "outline": outline.chapters, "progress": outline.progress, "lessonID": lesson.id,
                "canComplete": visit.isSignedIn && !lesson.locked && !lesson.completed,
            ]
            if let previous = outline.previous { values["previous"] = previous }
            if let next = outline.next { values["next"] = next }
            if lesson.locked { values["paywall"] = PaywallBox(lesson.paywall, slug: community.slug, visit: visit).values }
            values.merge(web.discussionValues(thread, names: names, visit: visit, page: "/c/\(community.slug)/lessons/\(lesson.id)", locked: lesson.locked)) { _, new in new }
            return visit.render("lesson", values)
        },
        WebPage(.post, "/c/:slug/lessons/:id/comments", signIn: .required) { web, visit in
            var lessonRequest = ContentLessonRequest()
            lessonRequest.lessonID = try visit.path("id")
            var message = ContentAddCommentRequest()
            message.itemID = try await web.gateway.client(.content).call(ContentAPI.getLesson, lessonRequest, metadata: visit.metadata).courseID
            message.lessonID = lessonRequest.lessonID
            return try await web.addComment(message, visit: &visit, page: "/c/\(Visit.percentEncoded(try visit.path("slug")))/lessons/\(Visit.percentEncoded(message.lessonID))")
        },
        WebPage(.post, "/c/:slug/lessons/:id/complete", signIn: .required) { web, visit in
            let slug = try visit.path("slug"), lessonID = try visit.path("id")
            var message = ContentCompleteLessonRequest()
            message.lessonID = lessonID
            message.completed = true
            _ = try await web.gateway.client(.content).call(ContentAPI.completeLesson, message, metadata: visit.metadata)
            visit.flash("flash_lesson_done")
            let next = visit.form["next"].flatMap { Gateway.isPlainToken($0) ? $0 : nil }
            return Visit.redirect(to: "/c/\(Visit.percentEncoded(slug))/lessons/\(Visit.percentEncoded(next ?? lessonID))")
        },
    ]
}

extension WebFrontEnd {
    /// The community with `slug` and its course `id`, asked in parallel; a course of another
    /// community is not found here.
    func course(slug: String, id: String, visit: Visit) async throws -> (MembershipCommunity, ContentItem) {
        var request = ContentItemRequest()
        request.itemID = id
        async let community = community(slug: slug, visit: visit)
        let course = try await gateway.client(.content).call(ContentAPI.getItem, request, metadata: visit.metadata)
        let owner = try await community
        guard course.communityID == owner.id, course.kind == "course" else { throw WebError.notFound }
        return (owner, course)
    }
}

/// A course's chapters and lessons in order, each lesson marked done, free or locked, with the
/// member's progress and the lessons around the current one.
struct CourseOutline {
    var chapters: [[String: Any]] = []
    var progress = ""
    var previous: [String: Any]?
    var next: [String: Any]?
    var resume: [String: Any]?
    var lockedCount = 0
    var paywall: ContentPaywall?

    init(_ course: ContentItem, slug: String, current: String, visit: Visit) {
        let done = Set(course.progress.completedLessonIds)
        let lessons = course.chapters.flatMap(\.lessons)
        let index = lessons.firstIndex { $0.id == current }
        func link(_ lesson: ContentLesson) -> [String: Any] {
            ["title": lesson.title, "href": "/c/\(slug)/lessons/\(lesson.id)", "id": lesson.id]
        }
        if let index {
            if index > 0 { previous = link(lessons[index - 1]) }
            if index + 1 < lessons.count { next = link(lessons[index + 1]) }
        }
        resume = (lessons.first { !done.contains($0.id) && !$0.locked } ?? lessons.first).map(link)
        chapters = course.chapters.map { chapter in
            [
                "title": chapter.title,
                "lessons": chapter.lessons.map { lesson -> [String: Any] in
                    var values = link(lesson)
                    values["done"] = done.contains(lesson.id) || lesson.completed
                    values["free"] = lesson.free
                    values["locked"] = lesson.locked
                    values["current"] = lesson.id == current
                    return values
                },
            ]
        }
        lockedCount = lessons.filter(\.locked).count
        paywall = lessons.first { $0.locked && $0.hasPaywall }?.paywall ?? (course.hasPaywall ? course.paywall : nil)
        if visit.isSignedIn, !lessons.isEmpty {
            progress = visit.catalogue.text("course_progress", ["done": String(done.count), "total": String(lessons.count)])
        }
    }
}
