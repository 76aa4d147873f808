package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// The tree is untrusted input: a merge request can change it. These are the
// only ways a file of it is read: regular files inside the tree, at most
// MaxFileSize bytes, the limit enforced while reading. A symbolic link is
// followed only to a regular file inside the tree; a device, a FIFO or a
// socket is refused before it is opened (reading one could block or never
// end).

// errNotRegular marks a tree entry that is not a regular file.
var errNotRegular = errors.New("not a regular file")

// readTreeFile reads the file at p of fsys, whose tree starts at root.
func readTreeFile(fsys fs.FS, root, p string) ([]byte, error) {
	target, err := regularTarget(fsys, root, p)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(target)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (only regular files inside the tree are read)", p, errNotRegular)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, &Error{Origin{File: p}, fmt.Sprintf("file is more than the %d bytes a manifest may have; keep large files out of the tree", MaxFileSize)}
	}
	return data, nil
}

// regularTarget is p, or the file inside the tree that the symbolic link p
// points at, when that is a regular file; anything else is an error naming
// p.
func regularTarget(fsys fs.FS, root, p string) (string, error) {
	cur := p
	for hops := 0; hops < 8; hops++ {
		fi, err := fs.Lstat(fsys, cur)
		if err != nil {
			return "", err
		}
		switch m := fi.Mode(); {
		case m.IsRegular():
			return cur, nil
		case m&fs.ModeSymlink == 0:
			return "", fmt.Errorf("%s: %w but a %s; only regular files inside the tree are read", p, errNotRegular, kindOf(m))
		}
		link, err := fs.ReadLink(fsys, cur)
		if err != nil {
			return "", err
		}
		next := path.Join(path.Dir(cur), link)
		if path.IsAbs(link) || !inside(root, next) {
			return "", fmt.Errorf("%s: a symbolic link to %s, outside the tree; only files inside the tree are read", p, link)
		}
		cur = next
	}
	return "", fmt.Errorf("%s: too many symbolic links", p)
}

func inside(root, p string) bool {
	return root == "." || p == root || strings.HasPrefix(p, root+"/")
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file"
	}
}
