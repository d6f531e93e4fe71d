"""one schema: registrants, mail, attendance, api tokens, check-in, breakouts

Revision ID: 84493cc66c1d
Revises: 5b7e2c9d4a61, 822963bd4a5b, a7d3e9f1c2b4, b91f3c6d2e58, c4e1a7d93b20, e3b8d1f6a924
Create Date: 2026-11-28 18:54:06.171686

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text


# revision identifiers, used by Alembic.
revision = '84493cc66c1d'
down_revision = ('5b7e2c9d4a61', '822963bd4a5b', 'a7d3e9f1c2b4', 'b91f3c6d2e58', 'c4e1a7d93b20', 'e3b8d1f6a924')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
