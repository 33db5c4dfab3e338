/// The six fields of a cron expression, in the order of a six-field expression (seconds first).
enum CronField: Int, Sendable, CaseIterable {
    case second, minute, hour, dayOfMonth, month, dayOfWeek

    var name: String {
        switch self {
        case .second: "second"
        case .minute: "minute"
        case .hour: "hour"
        case .dayOfMonth: "day of month"
        case .month: "month"
        case .dayOfWeek: "day of week"
        }
    }

    /// The values the field accepts as written (day of week: 0-7, both 0 and 7 Sunday).
    var bounds: ClosedRange<Int> {
        switch self {
        case .second, .minute: 0...59
        case .hour: 0...23
        case .dayOfMonth: 1...31
        case .month: 1...12
        case .dayOfWeek: 0...7
        }
    }

    /// The range `H` hashes into: day of month stops at 28 so that the day exists in every month.
    var hashBounds: ClosedRange<Int> {
        switch self {
        case .dayOfMonth: 1...28
        case .dayOfWeek: 0...6
        default: bounds
        }
    }

    var names: [String] {
        switch self {
        case .month: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        case .dayOfWeek: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        default: []
        }
    }

    /// The first name's value: JAN = 1, SUN = 0.
    var firstNameValue: Int { self == .month ? 1 : 0 }
}

/// A parsed cron expression: one bit set per field, plus the day-of-month and day-of-week
/// specials (`L`, `W`, `#`) that depend on the month.
struct CronExpression: Sendable, Hashable {
    var seconds: UInt64 = 0
    var minutes: UInt64 = 0
    var hours: UInt32 = 0
    /// Bits 1...12.
    var months: UInt16 = 0
    /// Bits 1...31: plain days of month.
    var daysOfMonth: UInt32 = 0
    /// Bit n: the last day of the month minus n (`L` is bit 0, `L-3` bit 3).
    var daysBeforeLastDay: UInt32 = 0
    /// `LW`: the last weekday (Monday to Friday) of the month.
    var lastWeekdayOfMonth = false
    /// Bits 1...31: `15W`, the weekday (Monday to Friday) nearest the 15th, within the month; for a
    /// day past the month's end, nearest its last day.
    var nearestWeekdays: UInt32 = 0
    /// Bits 0...6 (Sunday = 0).
    var daysOfWeek: UInt8 = 0
    /// Bits 0...6: `5L`, the last Friday of the month.
    var lastDaysOfWeek: UInt8 = 0
    /// Index n-1, bits 0...6: `5#2`, the second Friday.
    var nthDaysOfWeek: [UInt8] = [0, 0, 0, 0, 0]
    /// Vixie cron's rule: a day field that starts with `*` (or is `?`) counts as unrestricted, and
    /// only when both day fields are restricted does a day match when *either* matches.
    var dayOfMonthStar = false
    var dayOfWeekStar = false
    /// Neither the minute nor the hour field starts with `*`: the job runs at fixed wall-clock
    /// times, which decides its default DST behaviour.
    private(set) var isFixedTime = true

    /// Parses five fields (`minute hour day-of-month month day-of-week`) or six (seconds first).
    /// `jobName` is hashed for `H`; without it, `H` is an error. Every field's problems are collected.
    init(fields: [Substring], jobName: String?) throws(ScheduleError) {
        let (base, hashed) = try Self.template(fields: fields, named: jobName != nil)
        self = base.resolving(hashed, jobName: jobName)
    }

    /// Nothing set: what a template's parse starts from.
    private init() {}

    /// One `H` item, left out of a template and hashed per job by ``resolving(_:jobName:)``.
    struct HashedItem: Sendable, Hashable {
        let kind: CronField
        let bounds: ClosedRange<Int>
        /// `H/n`: every n-th value from an offset the hash chooses; nil: the one value it chooses.
        let step: Int?
    }

    /// The fields parsed once for every job whose schedule has the same text: the expression
    /// without its `H` items, and those items. `named`: whether a job name will be given to
    /// resolve them (without one, `H` is an error, reported in order with the others).
    static func template(fields: [Substring], named: Bool) throws(ScheduleError) -> (CronExpression, [HashedItem]) {
        var expression = CronExpression()
        var hashed: [HashedItem] = []
        let kinds: [CronField] = fields.count == 6 ? CronField.allCases : Array(CronField.allCases.dropFirst())
        if fields.count == 5 { expression.seconds = 1 }  // second 0
        var problems: [String] = []
        for (position, (text, kind)) in zip(fields, kinds).enumerated() {
            do {
                try expression.parseField(text, kind, named: named, hashed: &hashed)
            } catch {
                problems.append("field \(position + 1) (\(kind.name)): \(error.message)")
            }
        }
        guard problems.isEmpty else { throw ScheduleError(problems: problems) }
        let minuteText = fields[fields.count - 5]
        let hourText = fields[fields.count - 4]
        expression.isFixedTime = !minuteText.hasPrefix("*") && !hourText.hasPrefix("*")
        return (expression, hashed)
    }

    /// This template with its `H` items hashed for `jobName`: each field's hash is the same for
    /// every item of the field, from the name alone, so every node computes the same values.
    func resolving(_ hashed: [HashedItem], jobName: String?) -> CronExpression {
        guard !hashed.isEmpty, let jobName else { return self }
        var expression = self
        let name = StableHash.fnv1a64(jobName.utf8)
        for item in hashed {
            let hash = StableHash.mix64(name &+ UInt64(item.kind.rawValue))
            if let step = item.step {
                // The offset stays inside the range even when the step is longer than it (`H/31`
                // in days, whose hash range is 1-28; `H(0-5)/30`): a fuzzer found both crashing.
                let offset = Int(hash % UInt64(min(step, item.bounds.count)))
                expression.addRange((item.bounds.lowerBound + offset)...item.bounds.upperBound, step: step, item.kind)
            } else {
                let chosen = item.bounds.lowerBound + Int(hash % UInt64(item.bounds.count))
                expression.addRange(chosen...chosen, step: 1, item.kind)
            }
        }
        return expression
    }

    struct FieldError: Error { let message: String }

    private mutating func parseField(
        _ text: Substring,
        _ kind: CronField,
        named: Bool,
        hashed: inout [HashedItem]
    ) throws(FieldError) {
        if kind == .dayOfMonth { dayOfMonthStar = text.hasPrefix("*") || text == "?" }
        if kind == .dayOfWeek { dayOfWeekStar = text.hasPrefix("*") || text == "?" }
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw FieldError(message: "empty list item in \"\(text)\"") }
            try parseItem(item.uppercased()[...], original: item, kind, named: named, hashed: &hashed)
        }
    }

    private mutating func parseItem(
        _ item: Substring,
        original: Substring,
        _ kind: CronField,
        named: Bool,
        hashed: inout [HashedItem]
    ) throws(FieldError) {
        func fail(_ reason: String) -> FieldError { FieldError(message: "\"\(original)\" \(reason)") }

        if item == "?" {
            guard kind == .dayOfMonth || kind == .dayOfWeek else { throw fail("is only allowed in the day fields") }
            addRange(kind.bounds, step: 1, kind)
            return
        }
        // Day-of-month specials.
        if kind == .dayOfMonth, item.hasPrefix("L") {
            if item == "L" {
                daysBeforeLastDay |= 1
                return
            }
            if item == "LW" {
                lastWeekdayOfMonth = true
                return
            }
            if item.hasPrefix("L-"), let offset = Int(item.dropFirst(2)) {
                guard (0...30).contains(offset) else { throw fail("has an offset outside 0-30") }
                daysBeforeLastDay |= 1 << UInt32(offset)
                return
            }
            throw fail("is not L, L-n or LW")
        }
        if kind == .dayOfMonth, item.hasSuffix("W") {
            guard let day = Int(item.dropLast()) else { throw fail("is not nW (the weekday nearest day n)") }
            guard (1...31).contains(day) else { throw fail("names day \(day), outside 1-31") }
            nearestWeekdays |= 1 << UInt32(day)
            return
        }
        // Day-of-week specials.
        if kind == .dayOfWeek, let hash = item.firstIndex(of: "#") {
            let weekday = try value(item[..<hash], original: original, kind)
            guard let nth = Int(item[item.index(after: hash)...]), (1...5).contains(nth) else {
                throw fail("needs an occurrence from 1 to 5 after #")
            }
            nthDaysOfWeek[nth - 1] |= 1 << UInt8(weekday % 7)
            return
        }
        if kind == .dayOfWeek, item.hasSuffix("L") {
            guard item.count > 1 else { throw fail("needs a weekday before L, as in 5L (the last Friday)") }
            let weekday = try value(item.dropLast(), original: original, kind)
            lastDaysOfWeek |= 1 << UInt8(weekday % 7)
            return
        }
        // Ranges, steps, H.
        var rangePart = item
        var step = 1
        if let slash = item.firstIndex(of: "/") {
            rangePart = item[..<slash]
            guard let parsed = Int(item[item.index(after: slash)...]) else {
                throw fail("has a step that is not a number")
            }
            step = parsed
            let count = kind.bounds.count - (kind == .dayOfWeek ? 1 : 0)
            guard step >= 1 else { throw fail("has a step below 1") }
            guard step <= count else { throw fail("has a step larger than the field's \(count) values") }
        }
        let hasStep = rangePart.endIndex != item.endIndex
        if rangePart == "*" {
            addRange(kind == .dayOfWeek ? 0...6 : kind.bounds, step: step, kind)
            return
        }
        if rangePart.hasPrefix("H") {
            guard named else { throw fail("uses H, which needs a job name to hash (dcrond next --job NAME)") }
            var bounds = kind.hashBounds
            let spec = rangePart.dropFirst()
            if !spec.isEmpty {
                guard spec.hasPrefix("("), spec.hasSuffix(")") else { throw fail("is not H, H(a-b), H/n or H(a-b)/n") }
                let inner = spec.dropFirst().dropLast()
                let parts = inner.split(separator: "-", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("is not H, H(a-b), H/n or H(a-b)/n") }
                let low = try value(parts[0], original: original, kind)
                let high = try value(parts[1], original: original, kind)
                guard low <= high else { throw fail("has an H range whose start is after its end") }
                bounds = low...high
            }
            hashed.append(HashedItem(kind: kind, bounds: bounds, step: hasStep ? step : nil))
            return
        }
        let parts = rangePart.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw fail("is not a value, a range a-b, or a step") }
        var low = try value(parts[0], original: original, kind)
        if kind == .dayOfWeek && low == 7 { low = 0 }
        if parts.count == 1 {
            let high = hasStep ? (kind == .dayOfWeek ? 6 : kind.bounds.upperBound) : low
            addRange(low...high, step: step, kind)
            return
        }
        var high = try value(parts[1], original: original, kind)
        if kind == .dayOfWeek {
            if high == 7 && low > 0 {
                high = 6
                addRange(0...0, step: 1, kind)
            }  // `FRI-7`: Sunday too
            else if high == 7 {
                high = 6
            }
        }
        if low <= high {
            addRange(low...high, step: step, kind)
        } else {
            // Wrap-around: `22-2` is 22, 23, 0, 1, 2 (`22-2/2`: 22, 0, 2).
            let top = kind == .dayOfWeek ? 6 : kind.bounds.upperBound
            let bottom = kind == .dayOfWeek ? 0 : kind.bounds.lowerBound
            let sequence = Array(low...top) + Array(bottom...high)
            for index in stride(from: 0, to: sequence.count, by: step) { set(sequence[index], kind) }
        }
    }

    /// A number or a name (JAN, MON), checked against the field's bounds.
    private func value(_ text: Substring, original: Substring, _ kind: CronField) throws(FieldError) -> Int {
        if let number = Int(text) {
            guard kind.bounds.contains(number) else {
                throw FieldError(
                    message: "\"\(original)\" is out of range \(kind.bounds.lowerBound)-\(kind.bounds.upperBound)"
                )
            }
            return number
        }
        if let index = kind.names.firstIndex(of: String(text)) { return index + kind.firstNameValue }
        let expected =
            switch kind {
            case .month: "a month name (JAN-DEC) or a number 1-12"
            case .dayOfWeek: "a day name (SUN-SAT) or a number 0-7"
            default: "a number \(kind.bounds.lowerBound)-\(kind.bounds.upperBound)"
            }
        let shown = text.elementsEqual(original.uppercased()) ? "\"\(original)\"" : "\"\(original)\": \"\(text)\""
        throw FieldError(message: "\(shown) is not \(expected)")
    }

    private mutating func addRange(_ range: ClosedRange<Int>, step: Int, _ kind: CronField) {
        for value in stride(from: range.lowerBound, through: range.upperBound, by: step) { set(value, kind) }
    }

    private mutating func set(_ value: Int, _ kind: CronField) {
        switch kind {
        case .second: seconds |= 1 << UInt64(value)
        case .minute: minutes |= 1 << UInt64(value)
        case .hour: hours |= 1 << UInt32(value)
        case .dayOfMonth: daysOfMonth |= 1 << UInt32(value)
        case .month: months |= 1 << UInt16(value)
        case .dayOfWeek: daysOfWeek |= 1 << UInt8(value % 7)
        }
    }

    // MARK: - Matching

    /// Bits 1...31: the days of `month` in `year` that match both day fields (Vixie's rule).
    func matchingDays(year: Int, month: Int) -> UInt32 {
        let length = Calendar.daysInMonth(year: year, month: month)
        let validDays: UInt32 = (UInt32(1) << UInt32(length + 1)) &- 2  // bits 1...length
        let firstDay = Calendar.days(year: year, month: month, day: 1)
        let firstWeekday = Calendar.weekday(days: firstDay)
        func weekday(of day: Int) -> Int { (firstWeekday + day - 1) % 7 }

        var byMonthDay = daysOfMonth & validDays
        if daysBeforeLastDay != 0 {
            for offset in 0..<length where daysBeforeLastDay & (1 << UInt32(offset)) != 0 {
                byMonthDay |= 1 << UInt32(length - offset)
            }
        }
        if lastWeekdayOfMonth {
            var day = length
            while weekday(of: day) == 0 || weekday(of: day) == 6 { day -= 1 }
            byMonthDay |= 1 << UInt32(day)
        }
        if nearestWeekdays != 0 {
            // `31W` in a 30-day month counts from the month's last day, as croniter does: the
            // nearest weekday to a day that does not exist is the one nearest the month's end.
            for requested in 1...31 where nearestWeekdays & (1 << UInt32(requested)) != 0 {
                let day = min(requested, length)
                var chosen = day
                switch weekday(of: day) {
                case 6: chosen = day > 1 ? day - 1 : day + 2  // Saturday: Friday, or Monday the 3rd
                case 0: chosen = day < length ? day + 1 : day - 2  // Sunday: Monday, or Friday before the end
                default: break
                }
                byMonthDay |= 1 << UInt32(chosen)
            }
        }

        var byWeekDay: UInt32 = 0
        if daysOfWeek != 0 {
            for day in 1...min(7, length) where daysOfWeek & (1 << UInt8(weekday(of: day))) != 0 {
                for week in stride(from: day, through: length, by: 7) { byWeekDay |= 1 << UInt32(week) }
            }
        }
        if lastDaysOfWeek != 0 {
            for day in (length - 6)...length where lastDaysOfWeek & (1 << UInt8(weekday(of: day))) != 0 {
                byWeekDay |= 1 << UInt32(day)
            }
        }
        for (index, weekdays) in nthDaysOfWeek.enumerated() where weekdays != 0 {
            for day in 1...7 where weekdays & (1 << UInt8(weekday(of: day))) != 0 {
                let nth = day + index * 7
                if nth <= length { byWeekDay |= 1 << UInt32(nth) }
            }
        }
        return dayOfMonthStar || dayOfWeekStar ? byMonthDay & byWeekDay : byMonthDay | byWeekDay
    }

    /// The first civil time at or after `start` (local seconds) that matches, if it is before
    /// `end`; nil if there is none before `end`, or none within 400 years (a whole cycle of the
    /// Gregorian calendar, so an expression with no match there never fires).
    func firstMatch(fromLocal start: Int64, before end: Int64 = .max) -> Int64? {
        var civil = CivilTime(localSeconds: start)
        let yearLimit = civil.year + 400
        var cachedMonth = (year: 0, month: 0, days: UInt32(0))

        func startOfDay() -> Int64 { Calendar.days(year: civil.year, month: civil.month, day: civil.day) * 86_400 }
        func nextMonth() {
            civil.month += 1
            if civil.month > 12 {
                civil.month = 1
                civil.year += 1
            }
            civil.day = 1
            civil.hour = 0
            civil.minute = 0
            civil.second = 0
        }
        func nextDay() {
            civil.day += 1
            civil.hour = 0
            civil.minute = 0
            civil.second = 0
            if civil.day > Calendar.daysInMonth(year: civil.year, month: civil.month) { nextMonth() }
        }

        while true {
            guard civil.year <= yearLimit else { return nil }
            // Month.
            if months & (1 << UInt16(civil.month)) == 0 {
                let later = months & ~((UInt16(1) << UInt16(civil.month + 1)) &- 1)
                if later != 0 {
                    civil.month = later.trailingZeroBitCount
                } else {
                    civil.year += 1
                    civil.month = months.trailingZeroBitCount
                }
                civil.day = 1
                civil.hour = 0
                civil.minute = 0
                civil.second = 0
                if startOfDay() >= end { return nil }
            }
            // Day.
            if cachedMonth.year != civil.year || cachedMonth.month != civil.month {
                cachedMonth = (civil.year, civil.month, matchingDays(year: civil.year, month: civil.month))
            }
            let days = cachedMonth.days & ~((UInt32(1) << UInt32(civil.day)) &- 1)
            if days == 0 {
                nextMonth()
                if startOfDay() >= end { return nil }
                continue
            }
            if days.trailingZeroBitCount != civil.day {
                civil.day = days.trailingZeroBitCount
                civil.hour = 0
                civil.minute = 0
                civil.second = 0
                if startOfDay() >= end { return nil }
            }
            // Hour.
            let hoursLeft = hours & ~((UInt32(1) << UInt32(civil.hour)) &- 1)
            if hoursLeft == 0 {
                nextDay()
                if startOfDay() >= end { return nil }
                continue
            }
            if hoursLeft.trailingZeroBitCount != civil.hour {
                civil.hour = hoursLeft.trailingZeroBitCount
                civil.minute = 0
                civil.second = 0
            }
            // Minute.
            let minutesLeft = minutes & ~((UInt64(1) << UInt64(civil.minute)) &- 1)
            if minutesLeft == 0 {
                civil.hour += 1
                civil.minute = 0
                civil.second = 0
                if civil.hour == 24 {
                    nextDay()
                    if startOfDay() >= end { return nil }
                }
                continue
            }
            if minutesLeft.trailingZeroBitCount != civil.minute {
                civil.minute = minutesLeft.trailingZeroBitCount
                civil.second = 0
            }
            // Second.
            let secondsLeft = seconds & ~((UInt64(1) << UInt64(civil.second)) &- 1)
            if secondsLeft == 0 {
                civil.minute += 1
                civil.second = 0
                if civil.minute == 60 {
                    civil.minute = 0
                    civil.hour += 1
                    if civil.hour == 24 {
                        nextDay()
                        if startOfDay() >= end { return nil }
                    }
                }
                continue
            }
            civil.second = secondsLeft.trailingZeroBitCount
            let match = startOfDay() + Int64(civil.hour * 3600 + civil.minute * 60 + civil.second)
            return match < end ? match : nil
        }
    }
}
