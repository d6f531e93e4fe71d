"""check-in at the door, visitor tally

Revision ID: c4e1a7d93b20
Revises: fdcb80240bae
Create Date: 2026-11-29 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c4e1a7d93b20'
down_revision = 'fdcb80240bae'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('check_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_in_by_id', sa.Integer(), nullable=True),
    sa.Column('method', sa.Enum('qr', 'search', 'manual', name='checkinmethod', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('undone_by_id IS NULL OR undone_at IS NOT NULL', name=op.f('ck_check_ins_undone_has_time')),
    sa.ForeignKeyConstraint(['checked_in_by_id'], ['users.id'], name=op.f('fk_check_ins_checked_in_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_check_ins_registration_id_registrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['undone_by_id'], ['users.id'], name=op.f('fk_check_ins_undone_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_ins')),
    sa.UniqueConstraint('nonce', name=op.f('uq_check_ins_nonce'))
    )
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_ins_registration_id'), ['registration_id'], unique=False)
        batch_op.create_index('uq_check_ins_registration_day_active', ['registration_id', 'day'], unique=True, sqlite_where=sa.text('undone_at IS NULL'), postgresql_where=sa.text('undone_at IS NULL'))

    op.create_table('visitor_tallies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('count >= 0', name=op.f('ck_visitor_tallies_count_nonnegative')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_visitor_tallies_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visitor_tallies')),
    sa.UniqueConstraint('event_id', 'day', name='uq_visitor_tallies_event_day')
    )


def downgrade():
    op.drop_table('visitor_tallies')
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_index('uq_check_ins_registration_day_active', sqlite_where=sa.text('undone_at IS NULL'), postgresql_where=sa.text('undone_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_check_ins_registration_id'))

    op.drop_table('check_ins')
