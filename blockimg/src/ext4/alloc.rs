//! The block allocator of the planner: a sorted list of free ranges from
//! which metadata is placed at chosen spots and file data is handed out
//! next-fit, in ascending order.

/// A run of blocks: `start .. start + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// First block.
    pub start: u64,
    /// Number of blocks.
    pub len: u64,
}

impl Run {
    /// One past the last block.
    pub fn end(self) -> u64 {
        self.start + self.len
    }
}

/// Free space of a filesystem being planned.
#[derive(Clone, Debug)]
pub struct Allocator {
    /// Free ranges, ascending and disjoint.
    free: Vec<Run>,
    /// Index of the first range that may still hold free blocks for next-fit
    /// allocation.
    cursor: usize,
}

impl Allocator {
    /// All blocks `first .. end` are free.
    pub fn new(first: u64, end: u64) -> Self {
        Allocator {
            free: vec![Run {
                start: first,
                len: end - first,
            }],
            cursor: 0,
        }
    }

    /// Marks `run` as used. Parts of it already in use are ignored.
    pub fn reserve(&mut self, run: Run) {
        let mut out = Vec::with_capacity(self.free.len() + 1);
        for &free in &self.free {
            if free.end() <= run.start || free.start >= run.end() {
                out.push(free);
                continue;
            }
            if free.start < run.start {
                out.push(Run {
                    start: free.start,
                    len: run.start - free.start,
                });
            }
            if free.end() > run.end() {
                out.push(Run {
                    start: run.end(),
                    len: free.end() - run.end(),
                });
            }
        }
        self.free = out;
        self.cursor = 0;
    }

    /// Takes `len` contiguous blocks at the first place at or after `goal`
    /// (or, failing that, anywhere). Returns the first block.
    pub fn take_contiguous(&mut self, len: u64, goal: u64) -> Option<u64> {
        // Ranges ending at or before the goal cannot serve it: skip them by
        // binary search, so placing each group's metadata stays cheap on a
        // filesystem of many groups.
        let past_goal = self.free.partition_point(|r| r.end() <= goal);
        let fits = |from_goal: bool| {
            move |r: &Run| {
                let start = if from_goal {
                    r.start.max(goal)
                } else {
                    r.start
                };
                start < r.end() && r.end() - start >= len
            }
        };
        let at_goal = self
            .free
            .get(past_goal..)
            .and_then(|rest| rest.iter().position(fits(true)));
        let (index, from_goal) = match at_goal {
            Some(i) => (past_goal + i, true),
            None => (self.free.iter().position(fits(false))?, false),
        };
        let range = self.free[index];
        let start = if from_goal {
            range.start.max(goal)
        } else {
            range.start
        };
        self.reserve_within(index, Run { start, len });
        Some(start)
    }

    fn reserve_within(&mut self, index: usize, run: Run) {
        let range = self.free[index];
        let mut pieces = Vec::with_capacity(2);
        if range.start < run.start {
            pieces.push(Run {
                start: range.start,
                len: run.start - range.start,
            });
        }
        if run.end() < range.end() {
            pieces.push(Run {
                start: run.end(),
                len: range.end() - run.end(),
            });
        }
        self.free.splice(index..=index, pieces);
        self.cursor = self.cursor.min(index);
    }

    /// Takes `len` blocks next-fit, as few runs as the free space allows,
    /// in ascending order. Returns `None` (taking nothing) when fewer than
    /// `len` blocks are free.
    pub fn take(&mut self, mut len: u64) -> Option<Vec<Run>> {
        let available: u64 = self.free[self.cursor..].iter().map(|r| r.len).sum();
        if available < len {
            return None;
        }
        let mut runs = Vec::new();
        while len > 0 {
            let range = &mut self.free[self.cursor];
            if range.len == 0 {
                self.cursor += 1;
                continue;
            }
            let n = range.len.min(len);
            runs.push(Run {
                start: range.start,
                len: n,
            });
            range.start += n;
            range.len -= n;
            len -= n;
        }
        Some(runs)
    }

    /// Returns `run` to the free space (it must have been taken).
    pub fn release(&mut self, run: Run) {
        if run.len == 0 {
            return;
        }
        let index = self.free.partition_point(|r| r.start < run.start);
        self.free.insert(index, run);
        // Merge with neighbours so ranges stay disjoint and maximal.
        if index + 1 < self.free.len() && self.free[index].end() == self.free[index + 1].start {
            self.free[index].len += self.free[index + 1].len;
            self.free.remove(index + 1);
        }
        if index > 0 && self.free[index - 1].end() == self.free[index].start {
            self.free[index - 1].len += self.free[index].len;
            self.free.remove(index);
        }
        self.cursor = 0;
    }

    /// Returns every run of `runs` to the free space.
    pub fn release_all(&mut self, runs: &[Run]) {
        for &run in runs {
            self.release(run);
        }
    }

    /// The free ranges left, ascending.
    pub fn into_free(self) -> Vec<Run> {
        self.free.into_iter().filter(|r| r.len > 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_skips_reserved_ranges() {
        let mut a = Allocator::new(0, 100);
        a.reserve(Run { start: 10, len: 5 });
        assert_eq!(a.take(8), Some(vec![Run { start: 0, len: 8 }]));
        assert_eq!(
            a.take(6),
            Some(vec![Run { start: 8, len: 2 }, Run { start: 15, len: 4 }])
        );
        assert_eq!(
            a.clone().into_free().iter().map(|r| r.len).sum::<u64>(),
            100 - 5 - 14
        );
        assert_eq!(a.take(1000), None);
    }

    #[test]
    fn released_blocks_are_free_again() {
        let mut a = Allocator::new(0, 100);
        a.take(30).unwrap();
        a.release(Run { start: 10, len: 10 });
        assert_eq!(
            a.clone().into_free(),
            vec![Run { start: 10, len: 10 }, Run { start: 30, len: 70 }]
        );
        a.release_all(&[Run { start: 0, len: 10 }, Run { start: 20, len: 10 }]);
        assert_eq!(a.into_free(), vec![Run { start: 0, len: 100 }]);
    }

    #[test]
    fn contiguous_honours_goal_and_falls_back() {
        let mut a = Allocator::new(0, 100);
        assert_eq!(a.take_contiguous(10, 50), Some(50));
        assert_eq!(a.take_contiguous(45, 70), Some(0));
        assert_eq!(a.take_contiguous(41, 0), None);
        assert_eq!(a.into_free().iter().map(|r| r.len).sum::<u64>(), 45);
    }
}
