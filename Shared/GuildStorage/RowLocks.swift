import SQLKit

/// Row locks: how a check that reads before it writes (a seat count, a balance, "has this member
/// bought before?") holds on both stores.
///
/// On PostgreSQL, READ COMMITTED lets transactions interleave: two of them can read the same
/// count, both find room, and both write. Locking the row that owns the limit (the group, the
/// plan, the member's row) before reading makes the second wait until the first commits; its
/// next statement then sees what the first wrote. On SQLite every transaction of ``Database``
/// already holds the database's only write lock (`BEGIN IMMEDIATE`), so the same statements run
/// without the locking clause and nothing interleaves anyway.
///
/// Locks are taken in one order across a service (its docs say which), so two transactions
/// never wait on each other; PostgreSQL's deadlock detector answers `aborted` if they ever do.
extension SQLDatabase {
    /// Locks the row of `table` whose `column` equals `value` until the transaction ends.
    /// Returns false when there is no such row (nothing is locked then).
    @discardableResult
    public func lockRow(_ table: String, where column: String = "id", is value: String) async throws -> Bool {
        try await raw("""
            SELECT \(ident: column) FROM \(ident: table) WHERE \(ident: column) = \(bind: value) \(SQLLockingClause.update)
            """).first() != nil
    }

    /// Locks the row of `table` keyed by `key` (column, value pairs: the table's primary key),
    /// inserting it first when it does not exist: a parent to lock for things that have no row
    /// of their own (a member's purchases in a community). Two transactions creating the same
    /// row at once are serialized by the key's uniqueness; the second then waits for the lock.
    /// `extra` columns are written only when the row is created.
    public func lockOrCreateRow(
        _ table: String, key: [(column: String, value: String)], extra: [(column: String, value: any Encodable & Sendable)] = []
    ) async throws {
        let columns = key.map(\.column) + extra.map(\.column)
        let values: [any Encodable & Sendable] = key.map(\.value) + extra.map(\.value)
        try await raw("""
            INSERT INTO \(ident: table) (\(idents: columns, joinedBy: ", ")) VALUES (\(binds: values))
            ON CONFLICT (\(idents: key.map(\.column), joinedBy: ", ")) DO NOTHING
            """).run()
        var select: SQLQueryString = "SELECT 1 AS locked FROM \(ident: table) WHERE "
        for (index, part) in key.enumerated() {
            if index > 0 { select.appendLiteral(" AND ") }
            select.appendInterpolation(ident: part.column)
            select.appendLiteral(" = ")
            select.appendInterpolation(bind: part.value)
        }
        select.appendLiteral(" ")
        select.appendInterpolation(SQLLockingClause.update)
        _ = try await raw(select).first()
    }
}
