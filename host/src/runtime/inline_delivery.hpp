// runtime/inline_delivery.hpp: lets the feed receiver run a plugin's callback on the worker that
// read its message, with no thread hand-off between reading a message and the callback (W3 in
// docs/performance.md).
//
// The receiver opens an InlineSlot around the routing of one message. The first in-process
// instance whose drain that message makes due claims the slot instead of posting the drain; every
// other due drain is posted as before and runs on another worker in parallel. The receiver runs
// the claimed drain at once on its own thread and then reads on. So the callback holds the input
// while it runs; the guards (bus/feed_receiver.cpp, in_process.cpp): an instance whose callback
// took over 200 µs does not claim for a second, and a callback holding the input for over 50 ms
// is rescued: another worker becomes the reader.
//
// Thread safety: the slot is per thread; claim() only ever sees the slot of the calling thread.
#pragma once

namespace tb::host {

// A plugin instance whose pending drain can be run on the caller's thread.
class InlineRunnable {
 public:
    // Run the claimed drain: here = on this thread now (through the instance's strand, so never
    // beside another of its callbacks); otherwise posted to the worker pool as usual.
    virtual void run_drain(bool here) = 0;

 protected:
    ~InlineRunnable() = default;
};

// Not nested: one per message routed by the receiver.
class InlineSlot {
 public:
    InlineSlot() {
        open_ = true;
        claimed_ = nullptr;
    }
    // A claim never taken (an exception left the routing) is posted: the drain is due and nobody
    // else will schedule it.
    ~InlineSlot() {
        if (open_ && claimed_ != nullptr) claimed_->run_drain(false);
        open_ = false;
        claimed_ = nullptr;
    }
    InlineSlot(const InlineSlot&) = delete;
    InlineSlot& operator=(const InlineSlot&) = delete;

    // Close the slot and return the claimed instance (or nullptr). The caller must call
    // run_drain() on it.
    InlineRunnable* take() {
        open_ = false;
        return claimed_;
    }

    // From deliver(): true when this thread has an open, unclaimed slot, which `r` now holds.
    static bool claim(InlineRunnable* r) {
        if (!open_ || claimed_ != nullptr) return false;
        claimed_ = r;
        return true;
    }

 private:
    static inline thread_local bool open_ = false;
    static inline thread_local InlineRunnable* claimed_ = nullptr;
};

}  // namespace tb::host
