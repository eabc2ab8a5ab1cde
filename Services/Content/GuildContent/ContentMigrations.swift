import GuildStorage

/// The schema of `guild-content`. Instants are milliseconds since 1970 (UTC). Ordered things
/// (chapters, lessons) carry a fractional `rank` (``Rank``) compared bytewise, so a move writes
/// one row.
public enum ContentMigrations {
    public static let all: [Migration] = [
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
        Migration(version: 5, name: "interaction: questions, bookings, challenges, lotteries, events, review tasks") { dialect in [
            IdempotencyKeys.createTable(dialect),
            "ALTER TABLE community_settings ADD COLUMN question_limit_minutes INTEGER NOT NULL DEFAULT 2880",
            "ALTER TABLE community_settings ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC'",
            // Paid Q&A: who answers at what price, and the questions.
            """
            CREATE TABLE answerers (
                community_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                accepting BOOLEAN NOT NULL,
                price_minor BIGINT NOT NULL,
                intro TEXT NOT NULL,
                updated_at_ms BIGINT NOT NULL,
                PRIMARY KEY (community_id, user_id)
            )
            """,
            """
            CREATE TABLE questions (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                asker_id TEXT NOT NULL,
                answerer_id TEXT NOT NULL,
                title TEXT NOT NULL,
                markdown TEXT NOT NULL,
                html TEXT NOT NULL,
                price_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                status TEXT NOT NULL,
                is_public BOOLEAN NOT NULL,
                charge_id TEXT,
                payment_id TEXT NOT NULL,
                checkout_url TEXT NOT NULL,
                answer_markdown TEXT NOT NULL,
                answer_html TEXT NOT NULL,
                decline_reason TEXT NOT NULL,
                credit_minor BIGINT NOT NULL,
                asked_at_ms BIGINT NOT NULL,
                answer_by_ms BIGINT,
                answered_at_ms BIGINT,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX questions_by_community ON questions (community_id, status, asked_at_ms)",
            "CREATE INDEX questions_due ON questions (status, answer_by_ms)",
            "CREATE INDEX questions_by_charge ON questions (charge_id)",
            // Consulting: offerings, weekly hours, bookings. A booking holds its expert's
            // quarter hours in booked_units (one row each, unique): two bookings that overlap in
            // any quarter hour cannot both be written, whatever the offerings' lengths.
            """
            CREATE TABLE offerings (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                expert_id TEXT NOT NULL,
                title TEXT NOT NULL,
                scope TEXT NOT NULL,
                duration_minutes INTEGER NOT NULL,
                price_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                cancel_cutoff_hours INTEGER NOT NULL,
                status TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX offerings_by_community ON offerings (community_id, expert_id)",
            """
            CREATE TABLE availability (
                community_id TEXT NOT NULL,
                expert_id TEXT NOT NULL,
                time_zone TEXT NOT NULL,
                windows TEXT NOT NULL,
                updated_at_ms BIGINT NOT NULL,
                PRIMARY KEY (community_id, expert_id)
            )
            """,
            """
            CREATE TABLE bookings (
                id TEXT PRIMARY KEY,
                offering_id TEXT NOT NULL REFERENCES offerings(id),
                community_id TEXT NOT NULL,
                expert_id TEXT NOT NULL,
                member_id TEXT NOT NULL,
                title TEXT NOT NULL,
                start_ms BIGINT NOT NULL,
                end_ms BIGINT NOT NULL,
                price_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                status TEXT NOT NULL,
                charge_id TEXT,
                payment_id TEXT NOT NULL,
                checkout_url TEXT NOT NULL,
                cancelled_by TEXT NOT NULL,
                cancel_reason TEXT NOT NULL,
                refund TEXT NOT NULL,
                notes_markdown TEXT NOT NULL,
                notes_html TEXT NOT NULL,
                rating INTEGER NOT NULL,
                review TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX bookings_by_member ON bookings (member_id, start_ms)",
            "CREATE INDEX bookings_by_expert ON bookings (expert_id, start_ms)",
            "CREATE INDEX bookings_by_status ON bookings (status, end_ms)",
            "CREATE INDEX bookings_by_charge ON bookings (charge_id)",
            """
            CREATE TABLE booked_units (
                expert_id TEXT NOT NULL,
                unit_start_ms BIGINT NOT NULL,
                booking_id TEXT NOT NULL,
                PRIMARY KEY (expert_id, unit_start_ms)
            )
            """,
            "CREATE INDEX booked_units_by_booking ON booked_units (booking_id)",
            // Check-in challenges.
            """
            CREATE TABLE challenges (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                title TEXT NOT NULL,
                task TEXT NOT NULL,
                start_date TEXT NOT NULL,
                days INTEGER NOT NULL,
                time_zone TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX challenges_by_community ON challenges (community_id)",
            """
            CREATE TABLE challenge_members (
                challenge_id TEXT NOT NULL REFERENCES challenges(id),
                user_id TEXT NOT NULL,
                joined_at_ms BIGINT NOT NULL,
                finished_at_ms BIGINT,
                PRIMARY KEY (challenge_id, user_id)
            )
            """,
            """
            CREATE TABLE checkins (
                challenge_id TEXT NOT NULL REFERENCES challenges(id),
                user_id TEXT NOT NULL,
                day INTEGER NOT NULL,
                local_date TEXT NOT NULL,
                note TEXT NOT NULL,
                at_ms BIGINT NOT NULL,
                PRIMARY KEY (challenge_id, user_id, day)
            )
            """,
            // Lotteries: the seed stays here, unpublished, until the draw.
            """
            CREATE TABLE lotteries (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                title TEXT NOT NULL,
                prizes TEXT NOT NULL,
                eligibility TEXT NOT NULL,
                eligibility_ref TEXT NOT NULL,
                draw_at_ms BIGINT NOT NULL,
                status TEXT NOT NULL,
                commitment TEXT NOT NULL,
                seed TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                drawn_at_ms BIGINT
            )
            """,
            "CREATE INDEX lotteries_due ON lotteries (status, draw_at_ms)",
            "CREATE INDEX lotteries_by_community ON lotteries (community_id)",
            """
            CREATE TABLE lottery_entries (
                lottery_id TEXT NOT NULL REFERENCES lotteries(id),
                user_id TEXT NOT NULL,
                entered_at_ms BIGINT NOT NULL,
                PRIMARY KEY (lottery_id, user_id)
            )
            """,
            """
            CREATE TABLE lottery_winners (
                lottery_id TEXT NOT NULL REFERENCES lotteries(id),
                position INTEGER NOT NULL,
                prize TEXT NOT NULL,
                prize_index INTEGER NOT NULL,
                user_id TEXT NOT NULL,
                PRIMARY KEY (lottery_id, position)
            )
            """,
            // Live sessions and events.
            """
            CREATE TABLE events (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                title TEXT NOT NULL,
                description_html TEXT NOT NULL,
                start_ms BIGINT NOT NULL,
                duration_minutes INTEGER NOT NULL,
                time_zone TEXT NOT NULL,
                join_url TEXT NOT NULL,
                location TEXT NOT NULL,
                capacity INTEGER NOT NULL,
                access_mode TEXT NOT NULL,
                access_plans TEXT NOT NULL,
                status TEXT NOT NULL,
                replay_item_id TEXT NOT NULL,
                replay_attachment_id TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX events_by_community ON events (community_id, start_ms)",
            "CREATE INDEX events_by_start ON events (status, start_ms)",
            """
            CREATE TABLE rsvps (
                event_id TEXT NOT NULL REFERENCES events(id),
                user_id TEXT NOT NULL,
                status TEXT NOT NULL,
                queued_at_ms BIGINT NOT NULL,
                attended_at_ms BIGINT,
                updated_at_ms BIGINT NOT NULL,
                PRIMARY KEY (event_id, user_id)
            )
            """,
            "CREATE INDEX rsvps_by_user ON rsvps (user_id, status)",
            // Reminders written to the outbox, once per event and lead time.
            """
            CREATE TABLE event_reminders (
                event_id TEXT NOT NULL,
                lead_minutes INTEGER NOT NULL,
                sent_at_ms BIGINT NOT NULL,
                PRIMARY KEY (event_id, lead_minutes)
            )
            """,
            // Product-review tasks.
            """
            CREATE TABLE review_tasks (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                product TEXT NOT NULL,
                brief_html TEXT NOT NULL,
                places INTEGER NOT NULL,
                deadline_ms BIGINT NOT NULL,
                reward_points BIGINT NOT NULL,
                created_by TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX review_tasks_by_community ON review_tasks (community_id)",
            """
            CREATE TABLE review_applications (
                task_id TEXT NOT NULL REFERENCES review_tasks(id),
                user_id TEXT NOT NULL,
                motivation TEXT NOT NULL,
                status TEXT NOT NULL,
                report_item_id TEXT NOT NULL,
                verdict TEXT NOT NULL,
                feedback TEXT NOT NULL,
                applied_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL,
                PRIMARY KEY (task_id, user_id)
            )
            """,
        ] },
        // A member's private calendar address: only the SHA-256 of its secret is kept.
        Migration(version: 6, name: "calendar feeds", statements: [
            """
            CREATE TABLE calendar_feeds (
                user_id TEXT PRIMARY KEY,
                secret_hash TEXT NOT NULL UNIQUE,
                created_at_ms BIGINT NOT NULL
            )
            """,
        ]),
        // Issue 7: items limited to a minimum level (a rank of referral's ladder; 0: none), and
        // single items opened to one user (a points redemption), once per (item, user).
        Migration(version: 7, name: "minimum levels, item grants", statements: [
            "ALTER TABLE items ADD COLUMN min_level INTEGER NOT NULL DEFAULT 0",
            """
            CREATE TABLE item_grants (
                item_id TEXT NOT NULL REFERENCES items(id),
                user_id TEXT NOT NULL,
                community_id TEXT NOT NULL,
                reason TEXT NOT NULL,
                granted_at_ms BIGINT NOT NULL,
                PRIMARY KEY (item_id, user_id)
            )
            """,
            // Active members are counted from comments by community and time.
            "CREATE INDEX comments_by_community ON comments (community_id, created_at_ms)",
        ]),
        // Retry loops give up after a bound; what they gave up on waits for an operator.
        Migration(version: 8, name: "dead letters", statements: DeadLetterOffice.migrationStatements),
        // An event carries the request id and trace context of the request that wrote it;
        // periodic jobs take a lease so that one replica at a time runs each.
        Migration(version: 9, name: "event trace context, job leases", statements: Outbox.traceColumns + [JobLease.createTable]),
    ]
}
