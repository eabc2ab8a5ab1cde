import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import SwiftProtobuf

/// Consulting (技术咨询): the offerings, each one's free slots in the viewer's time zone, booking
/// a slot and paying for it (a charge held until the session), and the member's bookings.
extension WebPages {
    static let consulting: [WebPage] = [
        WebPage(.get, "/c/:slug/consulting") { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit, fresh: true)
            let metadata = visit.metadata
            var offeringsRequest = ContentListOfferingsRequest()
            offeringsRequest.communityID = community.id
            var bookingsRequest = ContentListBookingsRequest()
            bookingsRequest.communityID = community.id
            bookingsRequest.scope = "mine"
            async let offerings = web.gateway.client(.content).call(ContentAPI.listOfferings, offeringsRequest, metadata: metadata)
            async let bookings = visit.isSignedIn ? web.gateway.client(.content).call(ContentAPI.listBookings, bookingsRequest, metadata: metadata) : ContentBookingList()
            let active = try await offerings.offerings.filter { $0.status == "active" }
            // Each offering's slots for the next week, asked in parallel.
            let slots = await withTaskGroup(of: (String, [ContentSlot]).self) { group in
                for offering in active {
                    group.addTask {
                        var request = ContentListSlotsRequest()
                        request.offeringID = offering.id
                        request.days = 7
                        return (offering.id, (try? await web.gateway.client(.content).call(ContentAPI.listSlots, request, metadata: metadata).slots) ?? [])
                    }
                }
                return await group.reduce(into: [String: [ContentSlot]]()) { $0[$1.0] = $1.1 }
            }
            let names = await web.displayNames(Set(active.map(\.expertID)), metadata: metadata)
            let catalogue = visit.catalogue, format = visit.format
            let canBook = visit.isSignedIn && !community.callerRole.isEmpty
            let mine = (try? await bookings.bookings) ?? []
            return visit.render("consulting", [
                "pageTitle": catalogue.text("consulting_title", ["community": community.name]), "slug": community.slug, "community": community.name,
                "offerings": active.map { offering -> [String: Any] in
                    [
                        "id": offering.id, "title": offering.title, "scope": offering.scope,
                        "expert": names[offering.expertID] ?? catalogue.text("comment_someone"),
                        "length": catalogue.plural("time_minutes", count: Int64(offering.durationMinutes)),
                        "price": offering.price.minorUnits == 0 ? catalogue.text("question_free") : format.money(offering.price.minorUnits, currency: offering.price.currency),
                        "cutoff": catalogue.plural("consulting_cutoff", count: Int64(offering.cancelCutoffHours)),
                        "slots": (slots[offering.id] ?? []).prefix(12).map { slot in
                            ["value": String(slot.start.seconds), "label": format.dateTime(milliseconds: Int64(slot.start.seconds) * 1000)] as [String: Any]
                        },
                        "hasSlots": !(slots[offering.id] ?? []).isEmpty, "canBook": canBook,
                        "nonce": WebSession.randomToken(),
                    ]
                },
                "hasOfferings": !active.isEmpty,
                "bookings": mine.map { booking -> [String: Any] in
                    [
                        "title": booking.title, "when": format.dateTime(milliseconds: Int64(booking.start.seconds) * 1000),
                        "state": catalogue.texts["booking_\(booking.status)"] ?? booking.status, "notes": booking.notesHtml,
                        "pay": booking.status == "awaiting_payment" && booking.hasPayment && !booking.payment.chargeID.isEmpty
                            ? "/checkout/charges/\(booking.payment.chargeID)?next=" + Visit.percentEncoded("/c/\(community.slug)/consulting") : "",
                    ]
                },
                "hasBookings": !mine.isEmpty,
                "joinToBook": visit.isSignedIn && !canBook ? "/c/\(community.slug)" : "",
                "signIn": visit.signInLink,
            ])
        },
        WebPage(.post, "/c/:slug/consulting/:offeringId/bookings", signIn: .required) { web, visit in
            let slug = try visit.path("slug")
            guard let nonce = visit.form["idem"], Gateway.isPlainToken(nonce), let seconds = visit.form["start"].flatMap(Int64.init) else { throw WebError.badForm }
            var request = ContentBookRequest()
            request.offeringID = try visit.path("offeringId")
            request.start = Google_Protobuf_Timestamp(seconds: seconds)
            request.idempotencyKey = "web-booking-" + nonce
            let back = "/c/\(Visit.percentEncoded(slug))/consulting"
            do {
                let booking = try await web.gateway.client(.content).call(ContentAPI.book, request, metadata: visit.metadata)
                if booking.hasPayment, !booking.payment.chargeID.isEmpty, booking.status == "awaiting_payment" {
                    return Visit.redirect(to: "/checkout/charges/\(booking.payment.chargeID)?next=" + Visit.percentEncoded(back))
                }
                visit.flash("flash_booked")
            } catch let error as GuildError where [.failedPrecondition, .alreadyExists, .invalidArgument, .permissionDenied].contains(error.code) {
                visit.flash(error.reason == "slot_taken" ? "flash_slot_taken" : "flash_booking_refused", kind: .error)
            }
            return Visit.redirect(to: back)
        },
    ]
}
