import Crypto
import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import SQLKit

/// Courses: ordered chapters and lessons (moved by changing one rank), free lessons, and each
/// member's progress. Ratings and reviews of courses. Attachments of items.
extension ContentService {
    /// Loads a course the caller may change.
    func editableCourse(_ sql: any SQLDatabase, id: String, user: UserID) async throws -> ItemRecord {
        let (course, standing) = try await load(sql, item: id, user: user)
        guard course.isCourse else { throw GuildError(.failedPrecondition, "Chapters and lessons belong to courses.", reason: "not_a_course") }
        guard Self.canEdit(course, user: user, standing: standing) else {
            throw GuildError(.permissionDenied, "Only the course's author or the community's owners may change it.", reason: "not_author")
        }
        return course
    }

    /// The rank right after `after` among `siblings` (ordered ranks), or first when nil.
    static func rank(after: String?, in siblings: [(id: String, rank: String)], field: String) throws -> String {
        guard let after, !after.isEmpty else { return Rank.between(nil, siblings.first?.rank) }
        guard let index = siblings.firstIndex(where: { $0.id == after }) else {
            throw GuildError.invalid([.init(field: field, description: "Not one of its siblings.")])
        }
        return Rank.between(siblings[index].rank, index + 1 < siblings.count ? siblings[index + 1].rank : nil)
    }

    func chapters(_ sql: any SQLDatabase, course: String) async throws -> [(id: String, rank: String)] {
        try await sql.raw("SELECT id, rank FROM chapters WHERE course_id = \(bind: course) ORDER BY rank").all().map {
            (try $0.decode(column: "id", as: String.self), try $0.decode(column: "rank", as: String.self))
        }
    }

    func lessons(_ sql: any SQLDatabase, chapter: String, excluding: String? = nil) async throws -> [(id: String, rank: String)] {
        try await sql.raw("SELECT id, rank FROM lessons WHERE chapter_id = \(bind: chapter) ORDER BY rank").all().map {
            (try $0.decode(column: "id", as: String.self), try $0.decode(column: "rank", as: String.self))
        }.filter { $0.id != excluding }
    }

    public func addChapter(_ request: ContentAddChapterRequest, user: UserID) async throws -> ContentChapter {
        try await prefetchStanding(.item(request.courseID), user: user)
        try Self.requireTitle(request.title, limit: configuration.maxTitleLength)
        return try await database.transaction { sql in
            let course = try await self.editableCourse(sql, id: request.courseID, user: user)
            let siblings = try await self.chapters(sql, course: course.id)
            let rank = request.afterChapterID.isEmpty ? Rank.between(siblings.last?.rank, nil) : try Self.rank(after: request.afterChapterID, in: siblings, field: "afterChapterId")
            let id = Identifier.make(at: self.clock.now())
            try await sql.raw("""
                INSERT INTO chapters (id, course_id, title, rank) VALUES (\(bind: id), \(bind: course.id), \(bind: request.title), \(bind: rank))
                """).run()
            try await self.touch(sql, course: course.id)
            var chapter = ContentChapter()
            chapter.id = id
            chapter.courseID = course.id
            chapter.title = request.title
            return chapter
        }
    }

    public func moveChapter(_ request: ContentMoveChapterRequest, user: UserID) async throws -> ContentChapter {
        try await prefetchStanding(.chapter(request.chapterID), user: user)
        return try await database.transaction { sql in
            guard let row = try await sql.raw("SELECT course_id, title FROM chapters WHERE id = \(bind: request.chapterID)").first() else {
                throw GuildError(.notFound, "No such chapter.")
            }
            let course = try await self.editableCourse(sql, id: try row.decode(column: "course_id", as: String.self), user: user)
            let siblings = try await self.chapters(sql, course: course.id).filter { $0.id != request.chapterID }
            let rank = try Self.rank(after: request.afterChapterID, in: siblings, field: "afterChapterId")
            try await sql.raw("UPDATE chapters SET rank = \(bind: rank) WHERE id = \(bind: request.chapterID)").run()
            try await self.touch(sql, course: course.id)
            var chapter = ContentChapter()
            chapter.id = request.chapterID
            chapter.courseID = course.id
            chapter.title = try row.decode(column: "title", as: String.self)
            return chapter
        }
    }

    public func addLesson(_ request: ContentAddLessonRequest, user: UserID) async throws -> ContentLesson {
        try await prefetchStanding(.chapter(request.chapterID), user: user)
        try Self.requireTitle(request.title, limit: configuration.maxTitleLength)
        guard request.markdown.utf8.count <= configuration.maxMarkdownBytes else {
            throw GuildError.invalid([.init(field: "markdown", description: "At most \(configuration.maxMarkdownBytes) bytes.")])
        }
        let id = try await database.transaction { sql in
            guard let row = try await sql.raw("SELECT course_id FROM chapters WHERE id = \(bind: request.chapterID)").first() else {
                throw GuildError(.notFound, "No such chapter.")
            }
            let course = try await self.editableCourse(sql, id: try row.decode(column: "course_id", as: String.self), user: user)
            let siblings = try await self.lessons(sql, chapter: request.chapterID)
            let rank = request.afterLessonID.isEmpty ? Rank.between(siblings.last?.rank, nil) : try Self.rank(after: request.afterLessonID, in: siblings, field: "afterLessonId")
            let now = self.clock.now()
            let id = Identifier.make(at: now)
            try await sql.raw("""
                INSERT INTO lessons (id, course_id, chapter_id, title, markdown, html, rank, updated_at_ms)
                VALUES (\(bind: id), \(bind: course.id), \(bind: request.chapterID), \(bind: request.title), \(bind: request.markdown),
                        \(bind: Markdown.html(request.markdown)), \(bind: rank), \(bind: now.millisecondsSince1970))
                """).run()
            try await self.touch(sql, course: course.id)
            return id
        }
        return try await lesson(id, user: user)
    }

    public func updateLesson(_ request: ContentUpdateLessonRequest, user: UserID) async throws -> ContentLesson {
        try await prefetchStanding(.lesson(request.lessonID), user: user)
        if request.hasTitle { try Self.requireTitle(request.title, limit: configuration.maxTitleLength) }
        if request.hasMarkdown, request.markdown.utf8.count > configuration.maxMarkdownBytes {
            throw GuildError.invalid([.init(field: "markdown", description: "At most \(configuration.maxMarkdownBytes) bytes.")])
        }
        try await database.transaction { sql in
            guard let row = try await sql.raw("SELECT course_id FROM lessons WHERE id = \(bind: request.lessonID)").first() else {
                throw GuildError(.notFound, "No such lesson.")
            }
            let course = try await self.editableCourse(sql, id: try row.decode(column: "course_id", as: String.self), user: user)
            let now = self.clock.now().millisecondsSince1970
            if request.hasTitle { try await sql.raw("UPDATE lessons SET title = \(bind: request.title), updated_at_ms = \(bind: now) WHERE id = \(bind: request.lessonID)").run() }
            if request.hasMarkdown {
                try await sql.raw("""
                    UPDATE lessons SET markdown = \(bind: request.markdown), html = \(bind: Markdown.html(request.markdown)), updated_at_ms = \(bind: now)
                    WHERE id = \(bind: request.lessonID)
                    """).run()
            }
            try await self.touch(sql, course: course.id)
        }
        return try await lesson(request.lessonID, user: user)
    }

    /// Moves a lesson (within its chapter or to another of the course): one row changes.
    public func moveLesson(_ request: ContentMoveLessonRequest, user: UserID) async throws -> ContentLesson {
        try await prefetchStanding(.lesson(request.lessonID), user: user)
        try await database.transaction { sql in
            guard let row = try await sql.raw("SELECT course_id, chapter_id FROM lessons WHERE id = \(bind: request.lessonID)").first() else {
                throw GuildError(.notFound, "No such lesson.")
            }
            let course = try await self.editableCourse(sql, id: try row.decode(column: "course_id", as: String.self), user: user)
            let chapter = request.chapterID.isEmpty ? try row.decode(column: "chapter_id", as: String.self) : request.chapterID
            guard let target = try await sql.raw("SELECT course_id FROM chapters WHERE id = \(bind: chapter)").first(),
                  try target.decode(column: "course_id", as: String.self) == course.id else {
                throw GuildError.invalid([.init(field: "chapterId", description: "A chapter of the same course.")])
            }
            let siblings = try await self.lessons(sql, chapter: chapter, excluding: request.lessonID)
            let rank = try Self.rank(after: request.afterLessonID, in: siblings, field: "afterLessonId")
            try await sql.raw("UPDATE lessons SET chapter_id = \(bind: chapter), rank = \(bind: rank) WHERE id = \(bind: request.lessonID)").run()
            try await self.touch(sql, course: course.id)
        }
        return try await lesson(request.lessonID, user: user)
    }

    static func requireTitle(_ title: String, limit: Int) throws {
        if title.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || title.count > limit {
            throw GuildError.invalid([.init(field: "title", description: "A title of 1 to \(limit) characters is required.")])
        }
    }

    /// A course changed: its search documents follow.
    func touch(_ sql: any SQLDatabase, course: String) async throws {
        try await sql.raw("UPDATE items SET updated_at_ms = \(bind: clock.now().millisecondsSince1970) WHERE id = \(bind: course)").run()
        try await SearchIndex.update(sql, dialect: database.dialect, item: course)
    }

    /// Every lesson of a course in course order (chapter rank, then lesson rank). Their text
    /// (`markdown`) is read only `withText`; otherwise it is empty.
    static func orderedLessons(_ sql: any SQLDatabase, course: String, withText: Bool = false) async throws -> [(id: String, chapter: String, title: String, markdown: String, updatedAtMs: Int64)] {
        try await sql.raw("""
            SELECT l.id AS id, l.chapter_id AS chapter_id, l.title AS title, \(unsafeRaw: withText ? "l.markdown" : "''") AS markdown,
                   l.updated_at_ms AS updated_at_ms
            FROM lessons l JOIN chapters c ON c.id = l.chapter_id WHERE l.course_id = \(bind: course) ORDER BY c.rank, l.rank
            """).all().map {
            (try $0.decode(column: "id", as: String.self), try $0.decode(column: "chapter_id", as: String.self),
             try $0.decode(column: "title", as: String.self), try $0.decode(column: "markdown", as: String.self),
             try $0.decode(column: "updated_at_ms", as: Int64.self))
        }
    }

    func isFreeLesson(_ sql: any SQLDatabase, course: ItemRecord, lesson: String) async throws -> Bool {
        guard course.freeLessons > 0 else { return false }
        return try await Self.orderedLessons(sql, course: course.id).prefix(course.freeLessons).contains { $0.id == lesson }
    }

    /// The course outline: chapters with their lessons' titles, free, locked and done flags
    /// (`lessons` in course order, `done` the caller's completed ones).
    func outline(_ sql: any SQLDatabase, course: ItemRecord, readable: Bool, lessons: [(id: String, chapter: String, title: String, markdown: String, updatedAtMs: Int64)], done: Set<String>) async throws -> [ContentChapter] {
        var chapters: [ContentChapter] = try await sql.raw("SELECT id, title FROM chapters WHERE course_id = \(bind: course.id) ORDER BY rank").all().map { row in
            var chapter = ContentChapter()
            chapter.id = try row.decode(column: "id", as: String.self)
            chapter.courseID = course.id
            chapter.title = try row.decode(column: "title", as: String.self)
            return chapter
        }
        for (index, lesson) in lessons.enumerated() {
            var message = ContentLesson()
            message.id = lesson.id
            message.courseID = course.id
            message.chapterID = lesson.chapter
            message.title = lesson.title
            message.free = index < course.freeLessons
            message.locked = !(readable || message.free)
            message.completed = done.contains(lesson.id)
            if let at = chapters.firstIndex(where: { $0.id == lesson.chapter }) { chapters[at].lessons.append(message) }
        }
        return chapters
    }

    /// One lesson: its body when the caller may read it, else the paywall.
    public func lesson(_ id: String, user: UserID?) async throws -> ContentLesson {
        try await prefetchStanding(.lesson(id), user: user)
        let (course, message) = try await database.withConnection { sql in
            guard let row = try await sql.raw("SELECT course_id FROM lessons WHERE id = \(bind: id)").first() else { throw GuildError(.notFound, "No such lesson.") }
            let (course, standing) = try await self.load(sql, item: try row.decode(column: "course_id", as: String.self), user: user)
            let lessons = try await Self.orderedLessons(sql, course: course.id)
            guard let index = lessons.firstIndex(where: { $0.id == id }) else { throw GuildError(.notFound, "No such lesson.") }
            let lesson = lessons[index]
            var message = ContentLesson()
            message.id = id
            message.courseID = course.id
            message.chapterID = lesson.chapter
            message.title = lesson.title
            message.free = index < course.freeLessons
            message.locked = !(message.free || course.readable(by: user, standing: standing))
            message.updatedAt = Date(millisecondsSince1970: lesson.updatedAtMs).timestamp
            let canEdit = Self.canEdit(course, user: user, standing: standing)
            if !message.locked || canEdit, let text = try await sql.raw("SELECT markdown, html FROM lessons WHERE id = \(bind: id)").first() {
                let markdown = try text.decode(column: "markdown", as: String.self)
                if !message.locked { message.html = try text.decode(column: "html", as: String?.self) ?? Markdown.html(markdown) }
                if canEdit { message.markdown = markdown }
            }
            message.completed = try await self.completedLessons(sql, course: course.id, user: user).contains(id)
            return (course, message)
        }
        var answer = message
        if message.locked { answer.paywall = try await paywall(for: course, user: user) }
        return answer
    }

    func completedLessons(_ sql: any SQLDatabase, course: String, user: UserID?) async throws -> Set<String> {
        guard let user else { return [] }
        return Set(try await sql.raw("""
            SELECT lesson_id FROM lesson_progress WHERE user_id = \(bind: user.rawValue) AND course_id = \(bind: course)
            """).all().map { try $0.decode(column: "lesson_id", as: String.self) })
    }

    /// The caller's progress; `lessons` (ids in course order) and `done` are read when not given.
    func progress(_ sql: any SQLDatabase, course: String, user: UserID, lessons known: [String]? = nil, done completed: Set<String>? = nil) async throws -> ContentProgress {
        var lessons = known ?? []
        if known == nil { lessons = try await Self.orderedLessons(sql, course: course).map(\.id) }
        var done = completed ?? []
        if completed == nil { done = try await completedLessons(sql, course: course, user: user) }
        done.formIntersection(lessons)
        var progress = ContentProgress()
        progress.courseID = course
        progress.userID = user.rawValue
        progress.lessonsTotal = Int32(lessons.count)
        progress.lessonsDone = Int32(done.count)
        progress.percent = lessons.isEmpty ? 0 : Int32(done.count * 100 / lessons.count)
        progress.completedLessonIds = lessons.filter(done.contains)
        if let row = try await sql.raw("SELECT * FROM course_positions WHERE user_id = \(bind: user.rawValue) AND course_id = \(bind: course)").first() {
            progress.lastLessonID = try row.decode(column: "lesson_id", as: String.self)
            progress.lastPosition = Int32(try row.decode(column: "position", as: Int.self))
            progress.updatedAt = try row.timestamp("updated_at_ms")
        }
        return progress
    }

    public func progress(_ request: ContentGetProgressRequest, user: UserID) async throws -> ContentProgress {
        try await prefetchStanding(.item(request.courseID), user: user)
        return try await database.withConnection { sql in
            let (course, _) = try await self.load(sql, item: request.courseID, user: user)
            guard course.isCourse else { throw GuildError(.failedPrecondition, "Progress is kept for courses.", reason: "not_a_course") }
            return try await self.progress(sql, course: course.id, user: user)
        }
    }

    /// Records the member's position in a lesson and, when asked, marks it done (once).
    public func completeLesson(_ request: ContentCompleteLessonRequest, user: UserID) async throws -> ContentProgress {
        try await prefetchStanding(.lesson(request.lessonID), user: user)
        guard request.position >= 0 else { throw GuildError.invalid([.init(field: "position", description: "Zero or more.")]) }
        return try await database.transaction { sql in
            guard let row = try await sql.raw("SELECT course_id FROM lessons WHERE id = \(bind: request.lessonID)").first() else {
                throw GuildError(.notFound, "No such lesson.")
            }
            let (course, standing) = try await self.load(sql, item: try row.decode(column: "course_id", as: String.self), user: user)
            if !(try await self.isFreeLesson(sql, course: course, lesson: request.lessonID)) {
                try self.requireFullAccess(course, standing: standing, user: user)
            }
            let now = self.clock.now()
            try await sql.raw("""
                INSERT INTO course_positions (user_id, course_id, lesson_id, position, updated_at_ms)
                VALUES (\(bind: user.rawValue), \(bind: course.id), \(bind: request.lessonID), \(bind: Int(request.position)), \(bind: now.millisecondsSince1970))
                ON CONFLICT (user_id, course_id) DO UPDATE SET lesson_id = excluded.lesson_id, position = excluded.position, updated_at_ms = excluded.updated_at_ms
                """).run()
            // Completed once: of two completions at once, one inserts and writes the event.
            let completedNow = request.completed ? try await sql.raw("""
                INSERT INTO lesson_progress (user_id, lesson_id, course_id, completed_at_ms)
                VALUES (\(bind: user.rawValue), \(bind: request.lessonID), \(bind: course.id), \(bind: now.millisecondsSince1970))
                ON CONFLICT (user_id, lesson_id) DO NOTHING RETURNING lesson_id
                """).first() != nil : false
            let progress = try await self.progress(sql, course: course.id, user: user)
            if completedNow {
                var event = ContentLessonCompletedEvent()
                event.lessonID = request.lessonID
                event.courseID = course.id
                event.communityID = course.communityID.rawValue
                event.userID = user.rawValue
                event.percent = progress.percent
                try await self.emit(sql, Topic.lessonCompleted, event, at: now)
            }
            return progress
        }
    }

    // MARK: Ratings

    func ratingSummary(_ sql: any SQLDatabase, course: String) async throws -> ContentRatingSummary {
        var summary = ContentRatingSummary()
        summary.distribution = [0, 0, 0, 0, 0]
        var total = 0
        for row in try await sql.raw("SELECT stars, COUNT(*) AS n FROM ratings WHERE course_id = \(bind: course) GROUP BY stars").all() {
            let stars = try row.decode(column: "stars", as: Int.self)
            let count = try row.decode(column: "n", as: Int.self)
            summary.distribution[stars - 1] = Int32(count)
            summary.count += Int32(count)
            total += stars * count
        }
        summary.averageCenti = summary.count == 0 ? 0 : Int32((total * 100 + Int(summary.count) / 2) / Int(summary.count))
        return summary
    }

    static func rating(_ row: any SQLRow) throws -> ContentRating {
        var rating = ContentRating()
        rating.courseID = try row.decode(column: "course_id", as: String.self)
        rating.userID = try row.decode(column: "user_id", as: String.self)
        rating.stars = Int32(try row.decode(column: "stars", as: Int.self))
        rating.review = try row.decode(column: "review", as: String.self)
        rating.reply = try row.decode(column: "reply", as: String.self)
        rating.createdAt = try row.timestamp("created_at_ms")
        rating.updatedAt = try row.timestamp("updated_at_ms")
        if let t = try row.optionalTimestamp("replied_at_ms") { rating.repliedAt = t }
        return rating
    }

    /// A member who may read the course rates it (again to edit).
    public func rateCourse(_ request: ContentRateCourseRequest, user: UserID) async throws -> ContentRating {
        try await prefetchStanding(.item(request.courseID), user: user)
        guard (1...5).contains(request.stars) else { throw GuildError.invalid([.init(field: "stars", description: "1 to 5.")]) }
        guard request.review.count <= 5000 else { throw GuildError.invalid([.init(field: "review", description: "At most 5,000 characters.")]) }
        return try await database.transaction { sql in
            let (course, standing) = try await self.load(sql, item: request.courseID, user: user)
            guard course.isCourse, course.isLive else { throw GuildError(.failedPrecondition, "Only published courses are rated.", reason: "not_a_course") }
            try self.requireFullAccess(course, standing: standing, user: user)
            try Self.policy.authorize(Operation.rate, role: standing.role)
            guard course.authorID != user else { throw GuildError(.failedPrecondition, "Authors do not rate their own course.", reason: "own_course") }
            let now = self.clock.now().millisecondsSince1970
            // One rating per member and course; rating again replaces the stars and the review.
            try await sql.raw("""
                INSERT INTO ratings (course_id, user_id, stars, review, reply, created_at_ms, updated_at_ms)
                VALUES (\(bind: course.id), \(bind: user.rawValue), \(bind: Int(request.stars)), \(bind: request.review), '', \(bind: now), \(bind: now))
                ON CONFLICT (course_id, user_id) DO UPDATE SET stars = excluded.stars, review = excluded.review, updated_at_ms = excluded.updated_at_ms
                """).run()
            var event = ContentCourseRatedEvent()
            event.courseID = course.id
            event.communityID = course.communityID.rawValue
            event.userID = user.rawValue
            event.stars = request.stars
            try await self.emit(sql, Topic.courseRated, event, at: self.clock.now())
            return try Self.rating(try await sql.raw("SELECT * FROM ratings WHERE course_id = \(bind: course.id) AND user_id = \(bind: user.rawValue)").first()!)
        }
    }

    public func ratings(_ request: ContentListRatingsRequest, user: UserID?) async throws -> ContentRatingList {
        try await prefetchStanding(.item(request.courseID), user: user)
        return try await database.withConnection { sql in
            let (course, _) = try await self.load(sql, item: request.courseID, user: user)
            guard course.isCourse else { throw GuildError(.failedPrecondition, "Only courses are rated.", reason: "not_a_course") }
            var list = ContentRatingList()
            list.summary = try await self.ratingSummary(sql, course: course.id)
            list.ratings = try await sql.raw("SELECT * FROM ratings WHERE course_id = \(bind: course.id) ORDER BY updated_at_ms DESC LIMIT 500").all().map(Self.rating)
            return list
        }
    }

    public func replyToRating(_ request: ContentReplyToRatingRequest, user: UserID) async throws -> ContentRating {
        try await prefetchStanding(.item(request.courseID), user: user)
        guard (1...5000).contains(request.reply.count) else { throw GuildError.invalid([.init(field: "reply", description: "1 to 5,000 characters.")]) }
        return try await database.transaction { sql in
            let (course, standing) = try await self.load(sql, item: request.courseID, user: user)
            try Self.policy.authorize(Operation.replyToRating, role: standing.role)
            guard try await sql.raw("SELECT user_id FROM ratings WHERE course_id = \(bind: course.id) AND user_id = \(bind: request.userID)").first() != nil else {
                throw GuildError(.notFound, "No such rating.")
            }
            try await sql.raw("""
                UPDATE ratings SET reply = \(bind: request.reply), replied_at_ms = \(bind: self.clock.now().millisecondsSince1970)
                WHERE course_id = \(bind: course.id) AND user_id = \(bind: request.userID)
                """).run()
            return try Self.rating(try await sql.raw("SELECT * FROM ratings WHERE course_id = \(bind: course.id) AND user_id = \(bind: request.userID)").first()!)
        }
    }

    // MARK: Attachments

    /// Stores a file for an item (its author or owners): type and size are checked, the bytes
    /// go to the data directory under a name of the service's choosing.
    ///
    /// The file is written under a temporary name first and renamed once its row has committed:
    /// a failed insert leaves no file with a real name (its temporary one is removed at once, or
    /// by ``sweepAttachments()`` after a crash), and a crash between the commit and the rename
    /// is finished by the sweep.
    public func addAttachment(_ request: ContentAddAttachmentRequest, user: UserID) async throws -> ContentAttachment {
        try await prefetchStanding(.item(request.itemID), user: user)
        let type = request.contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard configuration.allowedAttachmentTypes.contains(type) else {
            throw GuildError(.invalidArgument, "Files of type '\(type)' are not accepted.",
                             fieldViolations: [.init(field: "contentType", description: configuration.allowedAttachmentTypes.sorted().joined(separator: ", "))], reason: "unsupported_type")
        }
        guard !request.data.isEmpty, request.data.count <= configuration.maxAttachmentBytes else {
            throw GuildError(.invalidArgument, "An attachment holds 1 byte to \(configuration.maxAttachmentBytes) bytes.", reason: "attachment_too_large")
        }
        let filename = Self.safeFilename(request.filename)
        let now = clock.now()
        let id = Identifier.make(at: now)
        let digest = SHA256.hash(data: request.data).map { String(format: "%02x", $0) }.joined()
        let upload = uploadURL(id)
        try request.data.write(to: upload, options: .atomic)
        do {
            try await database.transaction { sql in
                let (item, standing) = try await self.load(sql, item: request.itemID, user: user)
                guard Self.canEdit(item, user: user, standing: standing) else {
                    throw GuildError(.permissionDenied, "Only the item's author or the community's owners may attach files.", reason: "not_author")
                }
                // Counted under the item's lock: concurrent uploads to one item take turns.
                try await sql.lockRow("items", is: item.id)
                let count = try await sql.raw("SELECT COUNT(*) AS n FROM attachments WHERE item_id = \(bind: item.id)").first()?.decode(column: "n", as: Int.self) ?? 0
                guard count < 20 else { throw GuildError(.resourceExhausted, "An item holds at most 20 attachments.", reason: "too_many_attachments") }
                try await sql.raw("""
                    INSERT INTO attachments (id, item_id, filename, content_type, size_bytes, sha256, uploaded_by, created_at_ms)
                    VALUES (\(bind: id), \(bind: item.id), \(bind: filename), \(bind: type), \(bind: Int64(request.data.count)), \(bind: digest),
                            \(bind: user.rawValue), \(bind: now.millisecondsSince1970))
                    """).run()
            }
        } catch {
            try? FileManager.default.removeItem(at: upload)
            throw error
        }
        try FileManager.default.moveItem(at: upload, to: attachmentURL(id))
        return try await database.withConnection { sql in
            try Self.attachment(try await sql.raw("SELECT * FROM attachments WHERE id = \(bind: id)").first()!)
        }
    }

    /// An attachment's bytes, for callers who may read the whole item.
    public func attachmentData(_ request: ContentAttachmentRequest, user: UserID?) async throws -> ContentAttachmentData {
        try await prefetchStanding(.attachment(request.attachmentID), user: user)
        let attachment = try await database.withConnection { sql in
            guard let row = try await sql.raw("SELECT * FROM attachments WHERE id = \(bind: request.attachmentID)").first() else {
                throw GuildError(.notFound, "No such attachment.")
            }
            let attachment = try Self.attachment(row)
            let (item, standing) = try await self.load(sql, item: attachment.itemID, user: user)
            try self.requireFullAccess(item, standing: standing, user: user)
            return attachment
        }
        var data = ContentAttachmentData()
        data.attachment = attachment
        // An upload whose rename a crash interrupted is still under its temporary name until the sweep.
        data.data = try (try? Data(contentsOf: attachmentURL(attachment.id))) ?? Data(contentsOf: uploadURL(attachment.id))
        return data
    }

    func attachmentURL(_ id: String) -> URL {
        configuration.attachmentDirectory.appendingPathComponent(id.filter { $0.isLetter || $0.isNumber || $0 == "-" })
    }

    /// Where an attachment's bytes wait until its row has committed.
    func uploadURL(_ id: String) -> URL {
        configuration.attachmentDirectory.appendingPathComponent(Self.uploadPrefix + id.filter { $0.isLetter || $0.isNumber || $0 == "-" })
    }

    static let uploadPrefix = "upload-"

    /// The file's name without paths or control characters, at most 100 characters.
    static func safeFilename(_ name: String) -> String {
        let base = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let cleaned = String(base.unicodeScalars.filter { !$0.properties.generalCategory.isControlOrFormat && $0 != "\"" }.map(Character.init)).prefix(100)
        return cleaned.isEmpty || cleaned == "." || cleaned == ".." ? "attachment" : String(cleaned)
    }
}

extension Unicode.GeneralCategory {
    var isControlOrFormat: Bool { self == .control || self == .format || self == .lineSeparator || self == .paragraphSeparator }
}
