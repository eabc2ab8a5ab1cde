import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import SwiftProtobuf

/// Live sessions and events: the upcoming ones with their time in the viewer's and the
/// community's zone, RSVP with a waiting list, the join link inside its window (content gives
/// it only then), and each one's .ics.
extension WebPages {
    static let events: [WebPage] = [
        WebPage(.get, "/c/:slug/events") { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            var request = ContentListEventsRequest()
            request.communityID = community.id
            let list = try await web.gateway.client(.content).call(ContentAPI.listEvents, request, metadata: visit.metadata)
            let catalogue = visit.catalogue, format = visit.format
            return visit.render("events", [
                "pageTitle": catalogue.text("events_title", ["community": community.name]),
                "slug": community.slug, "community": community.name,
                "events": list.events.map { event -> [String: Any] in
                    let start = Int64(event.start.seconds) * 1000
                    let zone = TimeZone(identifier: event.timeZone)
                    var values: [String: Any] = [
                        "id": event.id, "title": event.title, "html": event.descriptionHtml,
                        "kind": catalogue.texts["event_kind_\(event.kind)"] ?? event.kind,
                        "when": format.dateTime(milliseconds: start),
                        "duration": catalogue.plural("time_minutes", count: Int64(event.durationMinutes)),
                        "location": event.location, "cancelled": event.status == "cancelled",
                        "seats": event.capacity > 0
                            ? catalogue.text("event_seats", ["going": String(event.going), "capacity": String(event.capacity)])
                            : catalogue.plural("event_going", count: Int64(event.going)),
                        "joinURL": event.joinURL,
                        "ics": "/c/\(community.slug)/events/\(event.id)/calendar.ics",
                    ]
                    // The community's own zone beside the viewer's, when they differ.
                    if let zone, zone.secondsFromGMT() != format.timeZone.secondsFromGMT() {
                        values["localWhen"] = Formatting(locale: visit.locale, timeZone: zone).dateTime(milliseconds: start) + " · " + event.timeZone
                    }
                    switch event.myRsvp {
                    case "going": values["going"] = true
                    case "waitlisted": values["waitlisted"] = catalogue.text("event_waitlist_place", ["place": String(event.myWaitlistPosition)])
                    default: values["canRsvp"] = visit.isSignedIn && event.canAttend && event.status == "scheduled"
                    }
                    values["full"] = event.capacity > 0 && event.going >= event.capacity
                    return values
                },
                "hasEvents": !list.events.isEmpty,
                "signIn": visit.signInLink,
            ])
        },
        WebPage(.post, "/c/:slug/events/:id/rsvp", signIn: .required) { web, visit in
            let slug = try visit.path("slug")
            do {
                if visit.form["cancel"] == "1" {
                    var request = ContentCancelRsvpRequest()
                    request.eventID = try visit.path("id")
                    _ = try await web.gateway.client(.content).call(ContentAPI.cancelRsvp, request, metadata: visit.metadata)
                    visit.flash("flash_rsvp_cancelled")
                } else {
                    var request = ContentRsvpRequest()
                    request.eventID = try visit.path("id")
                    let event = try await web.gateway.client(.content).call(ContentAPI.rsvp, request, metadata: visit.metadata)
                    visit.flash(event.myRsvp == "waitlisted" ? "flash_rsvp_waitlisted" : "flash_rsvp_going")
                }
            } catch let error as GuildError where [.failedPrecondition, .permissionDenied].contains(error.code) {
                visit.flash("flash_rsvp_refused", kind: .error)
            }
            return Visit.redirect(to: "/c/\(Visit.percentEncoded(slug))/events")
        },
        WebPage(.get, "/c/:slug/events/:id/calendar.ics") { web, visit in
            var request = ContentEventCalendarRequest()
            request.eventID = try visit.path("id")
            let calendar = try await web.gateway.client(.content).call(ContentAPI.eventCalendar, request, metadata: visit.metadata)
            return Gateway.iCalendar(calendar, filename: request.eventID)
        },
    ]
}
