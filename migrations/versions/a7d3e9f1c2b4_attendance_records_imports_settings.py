"""attendance: join-link and report records, report imports, minimum duration per event

Revision ID: a7d3e9f1c2b4
Revises: fdcb80240bae
Create Date: 2026-11-29 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'a7d3e9f1c2b4'
down_revision = 'fdcb80240bae'
branch_labels = None
depends_on = None

_ONE_PER_REGISTRATION = "source IN ('join_link', 'manual')"


def upgrade():
    op.create_table('attendance_settings',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('min_minutes', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('min_minutes BETWEEN 0 AND 1440', name=op.f('ck_attendance_settings_min_minutes_range')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_attendance_settings_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_attendance_settings'))
    )
    op.create_table('attendance_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('pending', 'accepted', 'replaced', name='importstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('kind', sa.Enum('zoom_meeting', 'zoom_webinar', 'teams', name='reportkind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('shape', sa.String(length=40), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('meeting_key', sa.String(length=300), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('meeting_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('people', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['users.id'], name=op.f('fk_attendance_imports_accepted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_attendance_imports_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_attendance_imports_uploaded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_imports')),
    sa.UniqueConstraint('event_id', 'sha256', name='uq_attendance_imports_event_sha256'),
    sa.UniqueConstraint('token', name=op.f('uq_attendance_imports_token'))
    )
    with op.batch_alter_table('attendance_imports', schema=None) as batch_op:
        batch_op.create_index('ix_attendance_imports_event_status', ['event_id', 'status'], unique=False)

    op.create_table('attendance_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.Enum('join_link', 'zoom', 'teams', 'manual', name='attendancesource', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('matched_by', sa.Enum('email', 'name', 'manual', name='matchmethod', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('first_join', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_leave', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seconds', sa.Integer(), nullable=True),
    sa.Column('joins', sa.Integer(), nullable=False),
    sa.Column('raw_name', sa.String(length=200), nullable=False),
    sa.Column('raw_email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(source IN ('zoom', 'teams')) = (import_id IS NOT NULL)", name=op.f('ck_attendance_records_import_source')),
    sa.CheckConstraint("source IN ('zoom', 'teams') OR registration_id IS NOT NULL", name=op.f('ck_attendance_records_direct_has_registration')),
    sa.CheckConstraint("source NOT IN ('zoom', 'teams') OR (registration_id IS NULL) = (matched_by IS NULL)", name=op.f('ck_attendance_records_import_match_method')),
    sa.CheckConstraint("matched_by IS NULL OR source IN ('zoom', 'teams')", name=op.f('ck_attendance_records_match_method_only_for_imports')),
    sa.CheckConstraint('seconds IS NULL OR seconds >= 0', name=op.f('ck_attendance_records_seconds_nonnegative')),
    sa.CheckConstraint('joins >= 0', name=op.f('ck_attendance_records_joins_nonnegative')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_attendance_records_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['import_id'], ['attendance_imports.id'], name=op.f('fk_attendance_records_import_id_attendance_imports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_attendance_records_recorded_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_attendance_records_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_records'))
    )
    with op.batch_alter_table('attendance_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendance_records_import_id'), ['import_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attendance_records_registration_id'), ['registration_id'], unique=False)
        batch_op.create_index('ix_attendance_records_event_source', ['event_id', 'source', 'registration_id'], unique=False)
        batch_op.create_index('uq_attendance_records_registration_source', ['registration_id', 'source'], unique=True, sqlite_where=sa.text(_ONE_PER_REGISTRATION), postgresql_where=sa.text(_ONE_PER_REGISTRATION))


def downgrade():
    with op.batch_alter_table('attendance_records', schema=None) as batch_op:
        batch_op.drop_index('uq_attendance_records_registration_source', sqlite_where=sa.text(_ONE_PER_REGISTRATION), postgresql_where=sa.text(_ONE_PER_REGISTRATION))
        batch_op.drop_index('ix_attendance_records_event_source')
        batch_op.drop_index(batch_op.f('ix_attendance_records_registration_id'))
        batch_op.drop_index(batch_op.f('ix_attendance_records_import_id'))

    op.drop_table('attendance_records')
    with op.batch_alter_table('attendance_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_attendance_imports_event_status')

    op.drop_table('attendance_imports')
    op.drop_table('attendance_settings')
