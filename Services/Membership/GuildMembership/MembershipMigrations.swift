import GuildStorage

/// The schema of `guild-membership`. Money columns are integer minor units with a currency
/// column beside them; instants are milliseconds since 1970 (UTC).
public enum MembershipMigrations {
    public static let all: [Migration] = [
        Migration(version: 1, name: "communities, roles, plans, offers, coupons", statements: [
            """
            CREATE TABLE communities (
                id TEXT PRIMARY KEY,
                slug TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                currency TEXT NOT NULL,
                refund_window_days INTEGER NOT NULL,
                dissolution_refund TEXT NOT NULL,
                status TEXT NOT NULL,
                owner_id TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE community_roles (
                community_id TEXT NOT NULL REFERENCES communities(id),
                user_id TEXT NOT NULL,
                role TEXT NOT NULL,
                granted_at_ms BIGINT NOT NULL,
                PRIMARY KEY (community_id, user_id)
            )
            """,
            "CREATE INDEX community_roles_by_user ON community_roles (user_id)",
            """
            CREATE TABLE plans (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL REFERENCES communities(id),
                name TEXT NOT NULL,
                price_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                period TEXT NOT NULL,
                period_days INTEGER NOT NULL,
                trial_days INTEGER NOT NULL,
                seat_limit INTEGER NOT NULL,
                visible BOOLEAN NOT NULL,
                status TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX plans_by_community ON plans (community_id)",
            """
            CREATE TABLE offers (
                id TEXT PRIMARY KEY,
                plan_id TEXT NOT NULL REFERENCES plans(id),
                price_minor BIGINT NOT NULL,
                starts_at_ms BIGINT NOT NULL,
                ends_at_ms BIGINT NOT NULL,
                label TEXT NOT NULL
            )
            """,
            "CREATE INDEX offers_by_plan ON offers (plan_id, starts_at_ms)",
            """
            CREATE TABLE coupons (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL REFERENCES communities(id),
                code TEXT NOT NULL,
                kind TEXT NOT NULL,
                percent_off_bp BIGINT NOT NULL,
                amount_off_minor BIGINT NOT NULL,
                starts_at_ms BIGINT NOT NULL,
                ends_at_ms BIGINT NOT NULL,
                max_redemptions INTEGER NOT NULL,
                max_per_user INTEGER NOT NULL,
                plan_ids TEXT NOT NULL,
                first_purchase_only BOOLEAN NOT NULL,
                redeemed INTEGER NOT NULL,
                created_at_ms BIGINT NOT NULL,
                UNIQUE (community_id, code)
            )
            """,
        ]),
        Migration(version: 2, name: "orders, payments, subscriptions, redemptions") { dialect in [
            """
            CREATE TABLE subscriptions (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL REFERENCES communities(id),
                plan_id TEXT NOT NULL REFERENCES plans(id),
                user_id TEXT NOT NULL,
                status TEXT NOT NULL,
                was_trialing BOOLEAN NOT NULL,
                started_at_ms BIGINT NOT NULL,
                period_end_ms BIGINT,
                ended_at_ms BIGINT,
                access_until_ms BIGINT,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            // The entitlement index: "is U entitled to C at T" reads only this.
            "CREATE INDEX subscriptions_by_member ON subscriptions (user_id, community_id, access_until_ms)",
            "CREATE INDEX subscriptions_by_status ON subscriptions (status, period_end_ms)",
            """
            CREATE TABLE orders (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL REFERENCES communities(id),
                plan_id TEXT NOT NULL REFERENCES plans(id),
                user_id TEXT NOT NULL,
                quote \(dialect.bytesType) NOT NULL,
                total_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                coupon_id TEXT REFERENCES coupons(id),
                status TEXT NOT NULL,
                subscription_id TEXT REFERENCES subscriptions(id),
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX orders_by_user ON orders (user_id, community_id)",
            """
            CREATE TABLE payments (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES orders(id),
                provider TEXT NOT NULL,
                provider_reference TEXT NOT NULL,
                status TEXT NOT NULL,
                amount_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                checkout_url TEXT NOT NULL,
                failure_reason TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                completed_at_ms BIGINT
            )
            """,
            "CREATE INDEX payments_by_order ON payments (order_id)",
            // One row per redemption: counted per user, and held by the order until it fails.
            """
            CREATE TABLE coupon_redemptions (
                coupon_id TEXT NOT NULL REFERENCES coupons(id),
                order_id TEXT NOT NULL REFERENCES orders(id),
                user_id TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                PRIMARY KEY (coupon_id, order_id)
            )
            """,
            "CREATE INDEX coupon_redemptions_by_user ON coupon_redemptions (coupon_id, user_id)",
        ] },
        Migration(version: 3, name: "double-entry ledger, idempotency keys") { dialect in [
            """
            CREATE TABLE ledger_transactions (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                reference TEXT NOT NULL,
                community_id TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                UNIQUE (kind, reference)
            )
            """,
            """
            CREATE TABLE ledger_entries (
                id TEXT PRIMARY KEY,
                transaction_id TEXT NOT NULL REFERENCES ledger_transactions(id),
                account TEXT NOT NULL,
                community_id TEXT NOT NULL,
                amount_minor BIGINT NOT NULL,
                currency TEXT NOT NULL
            )
            """,
            "CREATE INDEX ledger_entries_by_account ON ledger_entries (account, currency)",
            "CREATE INDEX ledger_entries_by_transaction ON ledger_entries (transaction_id)",
            IdempotencyKeys.createTable(dialect),
        ] },
        Migration(version: 4, name: "refunds, renewal discounts", statements: [
            """
            CREATE TABLE refunds (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES orders(id),
                payment_id TEXT NOT NULL REFERENCES payments(id),
                amount_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                reason TEXT NOT NULL,
                refunded_by TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX refunds_by_order ON refunds (order_id)",
            "ALTER TABLE plans ADD COLUMN renewal_discount_bp BIGINT NOT NULL DEFAULT 0",
        ]),
            Migration(version: 5, name: "group buys", statements: [
            """
            CREATE TABLE group_buy_offers (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL REFERENCES communities(id),
                plan_id TEXT NOT NULL REFERENCES plans(id),
                group_size INTEGER NOT NULL,
                price_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                window_hours INTEGER NOT NULL,
                starts_at_ms BIGINT NOT NULL,
                ends_at_ms BIGINT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX group_buy_offers_by_community ON group_buy_offers (community_id)",
            """
            CREATE TABLE group_buys (
                id TEXT PRIMARY KEY,
                offer_id TEXT NOT NULL REFERENCES group_buy_offers(id),
                community_id TEXT NOT NULL REFERENCES communities(id),
                opener_id TEXT NOT NULL,
                status TEXT NOT NULL,
                opened_at_ms BIGINT NOT NULL,
                closes_at_ms BIGINT NOT NULL,
                settled_at_ms BIGINT
            )
            """,
            // The scheduler's question: which open groups have run out of time?
            "CREATE INDEX group_buys_by_status ON group_buys (status, closes_at_ms)",
            "ALTER TABLE orders ADD COLUMN group_buy_id TEXT REFERENCES group_buys(id)",
            "CREATE INDEX orders_by_group_buy ON orders (group_buy_id)",
        ]),
            Migration(version: 6, name: "event outbox") { dialect in Outbox.createTables(dialect) },
            // Stripe webhook events already applied (replay protection), by event id.
        Migration(version: 7, name: "webhook inbox", statements: [Inbox.createTable]),
        // One-off payments held for another service's sale (decision 18).
        Migration(version: 8, name: "charges", statements: [
            """
            CREATE TABLE charges (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL REFERENCES communities(id),
                payer_id TEXT NOT NULL,
                payee_id TEXT NOT NULL,
                purpose TEXT NOT NULL,
                reference TEXT NOT NULL,
                description TEXT NOT NULL,
                amount_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                status TEXT NOT NULL,
                payment_id TEXT NOT NULL UNIQUE,
                provider TEXT NOT NULL,
                provider_reference TEXT NOT NULL,
                checkout_url TEXT NOT NULL,
                failure_reason TEXT NOT NULL,
                fee_minor BIGINT NOT NULL,
                paid_at_ms BIGINT,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX charges_by_community ON charges (community_id, status)",
        ]),
        // What the referral service needs (issue 7): coupons issued to one member, the card's
        // fingerprint on payments, commission postings, and the history the lifecycle figures read.
        Migration(version: 9, name: "issued coupons, card fingerprints, commission postings, trial starts", statements: [
            "ALTER TABLE coupons ADD COLUMN issued_to TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE coupons ADD COLUMN label TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE payments ADD COLUMN card_fingerprint TEXT NOT NULL DEFAULT ''",
            // was_trialing is cleared when a trial converts; this remembers that it began as one.
            "ALTER TABLE subscriptions ADD COLUMN started_trialing BOOLEAN NOT NULL DEFAULT FALSE",
            "UPDATE subscriptions SET started_trialing = was_trialing",
            // Trials that already converted: the order that started the subscription was free,
            // without a coupon, on a plan with a trial (pricing gives a first subscription its trial).
            """
            UPDATE subscriptions SET started_trialing = TRUE WHERE EXISTS (
                SELECT 1 FROM orders o JOIN plans p ON p.id = o.plan_id
                WHERE o.subscription_id = subscriptions.id AND o.created_at_ms = subscriptions.started_at_ms
                  AND o.total_minor = 0 AND o.coupon_id IS NULL AND p.trial_days > 0)
            """,
            // Every way a subscription expires records when; fill any row that missed it.
            """
            UPDATE subscriptions SET ended_at_ms = COALESCE(access_until_ms, period_end_ms, updated_at_ms)
            WHERE status = 'expired' AND ended_at_ms IS NULL
            """,
            "CREATE INDEX subscriptions_by_community ON subscriptions (community_id, started_at_ms)",
            // One row per commission movement in the ledger (the transaction holds the money;
            // this says whose commission it was), once per idempotency key.
            """
            CREATE TABLE commission_postings (
                transaction_id TEXT PRIMARY KEY REFERENCES ledger_transactions(id),
                idempotency_key TEXT NOT NULL UNIQUE,
                community_id TEXT NOT NULL REFERENCES communities(id),
                commission_id TEXT NOT NULL,
                referrer_id TEXT NOT NULL,
                movement TEXT NOT NULL,
                from_state TEXT NOT NULL,
                amount_minor BIGINT NOT NULL,
                currency TEXT NOT NULL,
                posted_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX commission_postings_by_commission ON commission_postings (commission_id)",
        ]),
        // A member's row per community, made on their first purchase: the row their purchases
        // lock, so that per-member limits hold on PostgreSQL (decisions, "Concurrency").
        Migration(version: 10, name: "buyers", statements: [
            """
            CREATE TABLE buyers (
                community_id TEXT NOT NULL REFERENCES communities(id),
                user_id TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                PRIMARY KEY (community_id, user_id)
            )
            """,
            // The healing job's question: which held payments sit in a group that is not open?
            "CREATE INDEX orders_by_status ON orders (status, group_buy_id)",
        ]),
        // Retry loops give up after a bound; what they gave up on waits for an operator.
        Migration(version: 11, name: "dead letters", statements: DeadLetterOffice.migrationStatements),
        // An event carries the request id and trace context of the request that wrote it;
        // periodic jobs take a lease so that one replica at a time runs each.
        Migration(version: 12, name: "event trace context, job leases", statements: Outbox.traceColumns + [JobLease.createTable]),
    ]
}
