import CompressNIO
import GuildCore
import NIOCore

/// zlib compression of frame bodies (the `zlib` feature): bodies above a threshold are sent
/// compressed with the `compressed` flag; a receiver inflates at most a set number of bytes, so
/// a decompression bomb costs an error, not memory.
public enum FrameCompression {
    /// The feature name offered in HELLO and accepted in HELLO_ACK.
    public static let feature = "zlib"
    /// Bodies larger than this are compressed by default.
    public static let defaultThreshold = 1024
    /// The most bytes a compressed body may inflate to by default.
    public static let defaultMaxDecompressedSize = 4 << 20

    /// The frame with its body compressed and the flag set, when compressing pays off.
    static func compressIfWorthwhile(_ frame: Frame, threshold: Int) -> Frame {
        guard frame.body.readableBytes > threshold else { return frame }
        var body = frame.body
        guard let compressed = try? body.compress(with: .zlib), compressed.readableBytes < frame.body.readableBytes else { return frame }
        var result = frame
        result.body = compressed
        result.flags.insert(.compressed)
        return result
    }

    /// The inflated body.
    /// - Throws: `resourceExhausted` (`decompressed_too_large`) past `limit`; `invalidArgument`
    ///   (`corrupt_compressed_body`) when the bytes are not zlib data.
    static func decompress(_ body: ByteBuffer, limit: Int) throws -> ByteBuffer {
        var body = body
        do {
            return try body.decompress(with: .zlib, maxSize: limit)
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw GuildError(.resourceExhausted, "The compressed body inflates to more than \(limit) bytes.", reason: "decompressed_too_large")
        } catch {
            throw GuildError(.invalidArgument, "The compressed body is not valid zlib data.", reason: "corrupt_compressed_body")
        }
    }
}
