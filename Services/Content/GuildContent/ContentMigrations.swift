import GuildStorage

/// The schema of `guild-content`. Instants are milliseconds since 1970 (UTC). Ordered things
/// (chapters, lessons) carry a fractional `rank` (``Rank``) compared bytewise, so a move writes
/// one row.
enum ContentMigrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "items, revisions, courses, progress, attachments") { dialect in
            let rank = dialect == .postgres ? "TEXT COLLATE \"C\"" : "TEXT"
            return [
                """
                CREATE TABLE items (
                    id TEXT PRIMARY KEY,
                    community_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    author_id TEXT NOT NULL,
                    title TEXT NOT NULL,
                    tags TEXT NOT NULL,
                    markdown TEXT NOT NULL,
                    access_mode TEXT NOT NULL,
                    access_plans TEXT NOT NULL,
                    free_lessons INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    rejection_reason TEXT NOT NULL,
                    publish_at_ms BIGINT,
                    published_at_ms BIGINT,
                    created_at_ms BIGINT NOT NULL,
                    updated_at_ms BIGINT NOT NULL,
                    deleted_at_ms BIGINT,
                    deleted_by TEXT,
                    version INTEGER NOT NULL,
                    pinned BOOLEAN NOT NULL,
                    essence BOOLEAN NOT NULL
                )
                """,
                "CREATE INDEX items_by_community ON items (community_id, status, published_at_ms)",
                "CREATE INDEX items_published ON items (published_at_ms)",
                "CREATE INDEX items_due ON items (status, publish_at_ms)",
                """
                CREATE TABLE item_tags (
                    item_id TEXT NOT NULL REFERENCES items(id),
                    tag TEXT NOT NULL,
                    PRIMARY KEY (item_id, tag)
                )
                """,
                "CREATE INDEX item_tags_by_tag ON item_tags (tag)",
                """
                CREATE TABLE item_revisions (
                    item_id TEXT NOT NULL REFERENCES items(id),
                    version INTEGER NOT NULL,
                    title TEXT NOT NULL,
                    markdown TEXT NOT NULL,
                    edited_by TEXT NOT NULL,
                    edited_at_ms BIGINT NOT NULL,
                    PRIMARY KEY (item_id, version)
                )
                """,
                """
                CREATE TABLE chapters (
                    id TEXT PRIMARY KEY,
                    course_id TEXT NOT NULL REFERENCES items(id),
                    title TEXT NOT NULL,
                    rank \(rank) NOT NULL
                )
                """,
                "CREATE INDEX chapters_by_course ON chapters (course_id, rank)",
                """
                CREATE TABLE lessons (
                    id TEXT PRIMARY KEY,
                    course_id TEXT NOT NULL REFERENCES items(id),
                    chapter_id TEXT NOT NULL REFERENCES chapters(id),
                    title TEXT NOT NULL,
                    markdown TEXT NOT NULL,
                    rank \(rank) NOT NULL,
                    updated_at_ms BIGINT NOT NULL
                )
                """,
                "CREATE INDEX lessons_by_chapter ON lessons (chapter_id, rank)",
                "CREATE INDEX lessons_by_course ON lessons (course_id)",
                """
                CREATE TABLE lesson_progress (
                    user_id TEXT NOT NULL,
                    lesson_id TEXT NOT NULL REFERENCES lessons(id),
                    course_id TEXT NOT NULL,
                    completed_at_ms BIGINT NOT NULL,
                    PRIMARY KEY (user_id, lesson_id)
                )
                """,
                "CREATE INDEX lesson_progress_by_course ON lesson_progress (user_id, course_id)",
                """
                CREATE TABLE course_positions (
                    user_id TEXT NOT NULL,
                    course_id TEXT NOT NULL,
                    lesson_id TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    updated_at_ms BIGINT NOT NULL,
                    PRIMARY KEY (user_id, course_id)
                )
                """,
                """
                CREATE TABLE attachments (
                    id TEXT PRIMARY KEY,
                    item_id TEXT NOT NULL REFERENCES items(id),
                    filename TEXT NOT NULL,
                    content_type TEXT NOT NULL,
                    size_bytes BIGINT NOT NULL,
                    sha256 TEXT NOT NULL,
                    uploaded_by TEXT NOT NULL,
                    created_at_ms BIGINT NOT NULL
                )
                """,
                "CREATE INDEX attachments_by_item ON attachments (item_id)",
            ]
        },
        Migration(version: 2, name: "discussion, moderation, expert review, ratings") { _ in [
            """
            CREATE TABLE comments (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                item_id TEXT NOT NULL REFERENCES items(id),
                lesson_id TEXT NOT NULL,
                parent_id TEXT NOT NULL,
                author_id TEXT NOT NULL,
                markdown TEXT NOT NULL,
                status TEXT NOT NULL,
                moderation_reason TEXT NOT NULL,
                pinned BOOLEAN NOT NULL,
                essence BOOLEAN NOT NULL,
                mentions TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX comments_by_item ON comments (item_id, lesson_id, created_at_ms)",
            """
            CREATE TABLE reactions (
                target_kind TEXT NOT NULL,
                target_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                emoji TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                PRIMARY KEY (target_kind, target_id, user_id, emoji)
            )
            """,
            """
            CREATE TABLE community_settings (
                community_id TEXT PRIMARY KEY,
                rules TEXT NOT NULL,
                keywords TEXT NOT NULL,
                require_approval BOOLEAN NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE moderation_queue (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                target_kind TEXT NOT NULL,
                target_id TEXT NOT NULL,
                cause TEXT NOT NULL,
                detail TEXT NOT NULL,
                status TEXT NOT NULL,
                decided_by TEXT NOT NULL,
                decision_reason TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                decided_at_ms BIGINT
            )
            """,
            "CREATE INDEX moderation_queue_by_community ON moderation_queue (community_id, status, created_at_ms)",
            """
            CREATE TABLE moderation_audit (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                actor_id TEXT NOT NULL,
                action TEXT NOT NULL,
                target_kind TEXT NOT NULL,
                target_id TEXT NOT NULL,
                reason TEXT NOT NULL,
                at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX moderation_audit_by_community ON moderation_audit (community_id, at_ms)",
            """
            CREATE TABLE expert_reviews (
                item_id TEXT PRIMARY KEY REFERENCES items(id),
                expert_id TEXT NOT NULL,
                assigned_by TEXT NOT NULL,
                status TEXT NOT NULL,
                comments TEXT NOT NULL,
                assigned_at_ms BIGINT NOT NULL,
                decided_at_ms BIGINT
            )
            """,
            """
            CREATE TABLE ratings (
                course_id TEXT NOT NULL REFERENCES items(id),
                user_id TEXT NOT NULL,
                stars INTEGER NOT NULL,
                review TEXT NOT NULL,
                reply TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL,
                replied_at_ms BIGINT,
                PRIMARY KEY (course_id, user_id)
            )
            """,
        ] },
        Migration(version: 3, name: "search index, feed visits, outbox, inbox") { dialect in
            var statements = Outbox.createTables(dialect) + [Inbox.createTable]
            // Communities a user has (or had) standing in, learnt from membership's events; the
            // feed checks each with membership before showing anything from it.
            statements.append("""
                CREATE TABLE user_communities (
                    user_id TEXT NOT NULL,
                    community_id TEXT NOT NULL,
                    PRIMARY KEY (user_id, community_id)
                )
                """)
            statements.append("""
                CREATE TABLE feed_visits (
                    user_id TEXT PRIMARY KEY,
                    visited_at_ms BIGINT NOT NULL
                )
                """)
            // Two documents per item: its preview (what anyone may search) and its whole text
            // (searched for callers who may read it). Text is pre-tokenized by SearchText so
            // both databases find Chinese by Chinese queries.
            switch dialect {
            case .sqlite:
                statements.append("""
                    CREATE VIRTUAL TABLE search_documents USING fts5(
                        item_id UNINDEXED, community_id UNINDEXED, scope UNINDEXED, tokens, tokenize = 'unicode61'
                    )
                    """)
            case .postgres:
                statements.append("""
                    CREATE TABLE search_documents (
                        item_id TEXT NOT NULL,
                        community_id TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        tokens TEXT NOT NULL,
                        vector TSVECTOR NOT NULL,
                        PRIMARY KEY (item_id, scope)
                    )
                    """)
                statements.append("CREATE INDEX search_documents_vector ON search_documents USING GIN (vector)")
            }
            return statements
        },
        Migration(version: 4, name: "stored renderings of items, lessons and comments", statements: [
            "ALTER TABLE items ADD COLUMN free_html TEXT",
            "ALTER TABLE items ADD COLUMN free_excerpt TEXT",
            "ALTER TABLE items ADD COLUMN full_html TEXT",
            "ALTER TABLE items ADD COLUMN full_excerpt TEXT",
            "ALTER TABLE lessons ADD COLUMN html TEXT",
            "ALTER TABLE comments ADD COLUMN html TEXT",
        ]),
    ]
}
