package modelcar

// fileID is what a file is on disk: which file (device and inode) and which
// version of it (mtime and ctime, to the nanosecond). ctime cannot be set
// from user space, so an edit that restores the old mtime still shows.
// Outside Linux only the mtime is known; the rest stays zero.
type fileID struct {
	Dev, Ino     uint64
	Mtime, Ctime int64 // Unix nanoseconds
}

func (a fileID) sameFile(b fileID) bool    { return a.Dev == b.Dev && a.Ino == b.Ino }
func (a fileID) sameContent(b fileID) bool { return a.Mtime == b.Mtime && a.Ctime == b.Ctime }

// newest is the later of mtime and ctime: when the file last changed.
func (a fileID) newest() int64 { return max(a.Mtime, a.Ctime) }
