"""Backup and restore of a deployment's state: `vigil backup FILE`, `vigil restore FILE`.

``manifest`` describes an archive (members, sha256, key fingerprint, sealed with the data
key); ``snapshot`` takes consistent copies of what a running system keeps writing; ``archive``
writes the tar; ``restore`` checks one and puts it back; ``cli`` registers the commands.
"""
