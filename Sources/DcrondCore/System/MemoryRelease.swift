import CDcrondSystem

/// Gives the pages of freed memory back to the system (glibc's `malloc_trim(0)`, which since
/// glibc 2.8 also releases free pages in the middle of every arena, not only at the top).
///
/// Reading a table of 100,000 jobs allocates the file, its parse tree and the growing arrays of
/// definitions, about 1 KB a job, most of it freed once the table is built; without this the
/// process keeps those pages resident for good (RSS 200 MB where the live heap is 96 MB). Called
/// after a table is loaded and after an old one is freed, on threads that may block for the
/// milliseconds it takes.
func releaseFreedMemory() {
    _ = dcrond_malloc_trim()
}

/// ``releaseFreedMemory()`` on a short-lived thread of its own, for callers on an actor.
func releaseFreedMemoryInBackground() {
    startDetachedThread(name: "dcrond-release") { releaseFreedMemory() }
}
